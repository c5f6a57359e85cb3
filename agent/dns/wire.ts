// The DNS wire format as the resolver reads it: a hardened parser for queries (RFC 1035 §4, EDNS0
// RFC 6891) that never throws on hostile input, plus the header and name helpers the answer and
// forwarding code share. Records themselves are encoded with dns-packet at zone-render time (rr.ts);
// this file only reads what clients send, so it stays small enough to fuzz.

export const TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
} as const;

export const CLASS = { IN: 1, CH: 3, HS: 4, NONE: 254, ANY: 255 } as const;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

export const FLAG = { QR: 0x8000, AA: 0x0400, TC: 0x0200, RD: 0x0100, RA: 0x0080, CD: 0x0010 } as const;

/** The largest query accepted at all: real queries are under 300 bytes; anything bigger is noise. */
export const MAX_QUERY = 4096;
/** The UDP payload size the resolver advertises and the most it sends over UDP (the 2020 DNS flag day value). */
export const EDNS_SIZE = 1232;

export interface Edns {
  /** The requestor's UDP payload size, clamped to at least 512. */
  size: number;
  version: number;
  dnssecOk: boolean;
}

export interface Query {
  id: number;
  /** The header's flags word as received (RD and CD are echoed). */
  flags: number;
  /** Lower-cased, no trailing dot, labels joined by dots ('' is the root). */
  name: string;
  type: number;
  class: number;
  /** The question section exactly as received (bytes 12 .. end): always uncompressed. */
  question: Buffer;
  edns?: Edns;
}

/** What the parser concluded: a query to answer, an error to send back, or nothing at all. */
export type Parsed = { ok: true; query: Query } | { ok: false; id: number; flags: number; rcode: number } | null;

const reject = (buf: Buffer, rcode: number): Parsed => ({
  ok: false,
  id: buf.readUInt16BE(0),
  flags: buf.readUInt16BE(2),
  rcode,
});

/**
 * Reads a name starting at `off`. Returns the lower-cased dotted name and the offset after it,
 * or null when it is malformed: a label over 63 bytes, a name over 255 bytes, a reserved label
 * type, a pointer that does not point strictly backwards (which also rules out loops), or data
 * running past the end. `pointers` false rejects compression outright (the question of a query).
 */
export function readName(buf: Buffer, off: number, pointers: boolean): { name: string; end: number } | null {
  let pos = off;
  let end = -1;
  let wire = 0;
  let hops = 0;
  let name = '';
  let lowest = off;
  for (;;) {
    if (pos >= buf.length) return null;
    const len = buf[pos];
    if (len === 0) {
      wire += 1;
      if (end < 0) end = pos + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (!pointers || pos + 1 >= buf.length) return null;
      const target = ((len & 0x3f) << 8) | buf[pos + 1];
      // Strictly backwards of everything visited so far: no loop can form, hops stay bounded.
      if (target >= lowest || target < 12 || ++hops > 127) return null;
      if (end < 0) end = pos + 2;
      pos = target;
      lowest = target;
      continue;
    }
    if (kind !== 0) return null;
    if (pos + 1 + len > buf.length) return null;
    wire += len + 1;
    if (wire > 254) return null; // plus the root byte: 255 at most
    let label = '';
    for (let i = pos + 1; i <= pos + len; i++) {
      let c = buf[i];
      if (c >= 0x41 && c <= 0x5a) c |= 0x20;
      // A dot or backslash inside a label is escaped so that it cannot alias another name.
      label += c === 0x2e || c === 0x5c ? `\\${String.fromCharCode(c)}` : String.fromCharCode(c);
    }
    name = name ? `${name}.${label}` : label;
    pos += len + 1;
  }
  return { name, end };
}

/** Skips one resource record; returns its type, its rdata bounds and the offset after it, or null. */
export function readRecordHead(
  buf: Buffer,
  off: number,
): { name: string; type: number; klass: number; ttl: number; rdata: number; end: number } | null {
  const n = readName(buf, off, true);
  if (!n || n.end + 10 > buf.length) return null;
  const p = n.end;
  const rdlen = buf.readUInt16BE(p + 8);
  if (p + 10 + rdlen > buf.length) return null;
  return {
    name: n.name,
    type: buf.readUInt16BE(p),
    klass: buf.readUInt16BE(p + 2),
    ttl: buf.readUInt32BE(p + 4),
    rdata: p + 10,
    end: p + 10 + rdlen,
  };
}

const KNOWN_CLASS = new Set<number>([CLASS.IN, CLASS.CH, CLASS.HS, CLASS.NONE, CLASS.ANY]);

/**
 * Parses a query. null means drop silently (too short to carry an ID, a response, or oversized);
 * `ok: false` carries the rcode for the error answer (FORMERR, NOTIMP, REFUSED).
 */
export function parseQuery(buf: Buffer): Parsed {
  if (buf.length < 12 || buf.length > MAX_QUERY) return null;
  const flags = buf.readUInt16BE(2);
  if (flags & FLAG.QR) return null; // never answer a response: no reflection loops
  if ((flags >> 11) & 0xf) return reject(buf, RCODE.NOTIMP);
  const qd = buf.readUInt16BE(4),
    an = buf.readUInt16BE(6),
    ns = buf.readUInt16BE(8),
    ar = buf.readUInt16BE(10);
  if (qd !== 1 || an !== 0 || ns !== 0) return reject(buf, RCODE.FORMERR);
  const q = readName(buf, 12, false);
  if (!q || q.end + 4 > buf.length) return reject(buf, RCODE.FORMERR);
  const type = buf.readUInt16BE(q.end),
    klass = buf.readUInt16BE(q.end + 2);
  const questionEnd = q.end + 4;
  let edns: Edns | undefined;
  let off = questionEnd;
  for (let i = 0; i < ar; i++) {
    const rr = readRecordHead(buf, off);
    if (!rr) return reject(buf, RCODE.FORMERR);
    if (rr.type === TYPE.OPT) {
      if (edns || rr.name !== '') return reject(buf, RCODE.FORMERR);
      edns = { size: Math.max(512, rr.klass), version: (rr.ttl >>> 16) & 0xff, dnssecOk: !!(rr.ttl & 0x8000) };
    }
    off = rr.end;
  }
  // Class 0 is reserved (a malformed question); an unassigned class is a kind of query not served.
  if (klass === 0) return reject(buf, RCODE.FORMERR);
  if (!KNOWN_CLASS.has(klass)) return reject(buf, RCODE.NOTIMP);
  if (klass !== CLASS.IN && klass !== CLASS.ANY) return reject(buf, RCODE.REFUSED);
  if (type === TYPE.AXFR || type === TYPE.IXFR || type === TYPE.OPT) return reject(buf, RCODE.REFUSED);
  return {
    ok: true,
    query: {
      id: buf.readUInt16BE(0),
      flags,
      name: q.name,
      type,
      class: klass,
      question: buf.subarray(12, questionEnd),
      edns,
    },
  };
}

/** An OPT record advertising our payload size (version 0, no options). */
export const OPT_RR = Buffer.from([0, 0, 41, EDNS_SIZE >> 8, EDNS_SIZE & 0xff, 0, 0, 0, 0, 0, 0]);
/** The same with the extended rcode BADVERS (16 = 1 << 4 | 0): upper 8 bits of the rcode are 1. */
export const OPT_BADVERS = Buffer.from([0, 0, 41, EDNS_SIZE >> 8, EDNS_SIZE & 0xff, 1, 0, 0, 0, 0, 0]);

/** Writes a 12-byte header into `out`. */
export function writeHeader(
  out: Buffer,
  id: number,
  flags: number,
  qd: number,
  an: number,
  ns: number,
  ar: number,
): void {
  out.writeUInt16BE(id, 0);
  out.writeUInt16BE(flags, 2);
  out.writeUInt16BE(qd, 4);
  out.writeUInt16BE(an, 6);
  out.writeUInt16BE(ns, 8);
  out.writeUInt16BE(ar, 10);
}

/** Response flags for a query: QR, RA, the client's RD and CD, opcode 0, and `extra` (AA, TC). */
export function responseFlags(queryFlags: number, rcode: number, extra = 0): number {
  return FLAG.QR | FLAG.RA | (queryFlags & (FLAG.RD | FLAG.CD)) | extra | (rcode & 0xf);
}

/** An error answer with no question (FORMERR, NOTIMP, REFUSED for an unparsable or refused query). */
export function errorResponse(id: number, queryFlags: number, rcode: number): Buffer {
  const out = Buffer.alloc(12);
  // A NOTIMP answer echoes the opcode so the client can tell which one was refused.
  writeHeader(out, id, responseFlags(queryFlags, rcode) | (queryFlags & 0x7800), 0, 0, 0, 0);
  return out;
}

/** Encodes a lower-cased dotted name (as readName gives it, escapes included) into labels. */
export function encodeName(name: string): Buffer {
  const bytes: number[] = [];
  if (name) {
    // A dot ends a label unless escaped; a backslash takes the next character as it is. One pass,
    // so a label ending in an escaped backslash (`a\\.b`) still ends at its dot.
    let start = 0;
    bytes.push(0);
    for (let i = 0; i < name.length; i++) {
      let c = name.charCodeAt(i);
      if (c === 0x2e) {
        bytes[start] = bytes.length - start - 1;
        start = bytes.length;
        bytes.push(0);
        continue;
      }
      if (c === 0x5c && i + 1 < name.length) c = name.charCodeAt(++i);
      bytes.push(c & 0xff);
    }
    bytes[start] = bytes.length - start - 1;
  }
  bytes.push(0);
  return Buffer.from(bytes);
}

/** A recursive query for (name, type) with our OPT record, as sent to an upstream. */
export function encodeQuery(id: number, name: string, type: number): Buffer {
  const qname = encodeName(name);
  const out = Buffer.allocUnsafe(12 + qname.length + 4 + OPT_RR.length);
  writeHeader(out, id, FLAG.RD, 1, 0, 0, 1);
  qname.copy(out, 12);
  out.writeUInt16BE(type, 12 + qname.length);
  out.writeUInt16BE(CLASS.IN, 14 + qname.length);
  OPT_RR.copy(out, 16 + qname.length);
  return out;
}
