// The forwarder's cache: upstream answers kept as bytes with the offsets of their TTL fields, so a
// hit is a copy, an ID, the client's question and TTLs counted down, with no decoding. Bounded by
// entries and bytes, least recently used out first; expired entries leave on the next read.
import { FLAG, OPT_RR, type Query, RCODE, readName, readRecordHead, TYPE, writeHeader } from './wire.ts';

export interface CacheEntry {
  /** The upstream answer with the additional section cut off (header, question, answer, authority). */
  bytes: Buffer;
  /** Offsets of every TTL field and the TTL each had when stored. */
  ttlAt: number[];
  ttls: number[];
  storedMs: number;
  expiresMs: number;
  rcode: number;
}

export interface CacheLimits {
  /** Longest time a positive answer is kept (s), whatever its TTL. */
  maxTtl: number;
  /** Longest time a negative answer (NXDOMAIN, NODATA) is kept (s); its TTL comes from the SOA. */
  maxNegativeTtl: number;
  maxEntries: number;
  maxBytes: number;
}

export const DEFAULT_CACHE: CacheLimits = { maxTtl: 300, maxNegativeTtl: 60, maxEntries: 10_000, maxBytes: 32 << 20 };

/**
 * Turns an upstream answer for (name, type) into a cache entry with its lifetime (ms, 0 = do not
 * cache), or null if the answer is malformed or is not for that question.
 */
export function toEntry(
  res: Buffer,
  name: string,
  type: number,
  limits: CacheLimits,
  nowMs: number,
): { entry: CacheEntry; lifetimeMs: number } | null {
  if (res.length < 12 || !(res.readUInt16BE(2) & FLAG.QR)) return null;
  const rcode = res.readUInt16BE(2) & 0xf;
  if (res.readUInt16BE(4) !== 1) return null;
  const q = readName(res, 12, false);
  if (!q || q.name !== name || q.end + 4 > res.length || res.readUInt16BE(q.end) !== type) return null;
  const an = res.readUInt16BE(6),
    ns = res.readUInt16BE(8);
  let off = q.end + 4;
  const ttlAt: number[] = [],
    ttls: number[] = [];
  let minAnswer = Number.POSITIVE_INFINITY;
  let negative = Number.POSITIVE_INFINITY;
  for (let i = 0; i < an + ns; i++) {
    const rr = readRecordHead(res, off);
    if (!rr) return null;
    ttlAt.push(rr.rdata - 6);
    ttls.push(rr.ttl);
    if (i < an) minAnswer = Math.min(minAnswer, rr.ttl);
    else if (rr.type === TYPE.SOA && rr.end - rr.rdata >= 22) {
      // RFC 2308 §5: the negative TTL is the lesser of the SOA's own TTL and its MINIMUM field.
      negative = Math.min(rr.ttl, res.readUInt32BE(rr.end - 4));
    }
    off = rr.end;
  }
  const bytes = Buffer.from(res.subarray(0, off));
  bytes.writeUInt16BE(0, 10); // additional section dropped
  let ttl = 0;
  if (rcode === RCODE.NOERROR && an > 0) ttl = Math.min(minAnswer, limits.maxTtl);
  else if ((rcode === RCODE.NXDOMAIN || rcode === RCODE.NOERROR) && Number.isFinite(negative))
    ttl = Math.min(negative, limits.maxNegativeTtl);
  return {
    entry: { bytes, ttlAt, ttls, storedMs: nowMs, expiresMs: nowMs + ttl * 1000, rcode },
    lifetimeMs: ttl * 1000,
  };
}

/** The client's copy of an entry: its ID, its question bytes, TTLs aged, our OPT if it used EDNS; TC if too big. */
export function fromEntry(e: CacheEntry, q: Query, limit: number, nowMs: number): Buffer {
  const opt = q.edns ? OPT_RR : null;
  const size = e.bytes.length + (opt?.length ?? 0);
  const flags =
    (e.bytes.readUInt16BE(2) & ~(FLAG.RD | FLAG.CD | FLAG.TC | FLAG.AA)) | FLAG.RA | (q.flags & (FLAG.RD | FLAG.CD));
  if (size > limit) {
    const out = Buffer.allocUnsafe(12 + q.question.length + (opt?.length ?? 0));
    writeHeader(out, q.id, flags | FLAG.TC, 1, 0, 0, opt ? 1 : 0);
    q.question.copy(out, 12);
    opt?.copy(out, 12 + q.question.length);
    return out;
  }
  const out = Buffer.allocUnsafe(size);
  e.bytes.copy(out);
  out.writeUInt16BE(q.id, 0);
  out.writeUInt16BE(flags, 2);
  q.question.copy(out, 12);
  const aged = Math.floor((nowMs - e.storedMs) / 1000);
  for (let i = 0; i < e.ttlAt.length; i++) out.writeUInt32BE(Math.max(0, e.ttls[i] - aged), e.ttlAt[i]);
  if (opt) {
    opt.copy(out, e.bytes.length);
    out.writeUInt16BE(1, 10);
  }
  return out;
}

export class DnsCache {
  private map = new Map<string, CacheEntry>();
  private bytes = 0;
  readonly limits: CacheLimits;
  constructor(limits: CacheLimits = DEFAULT_CACHE) {
    this.limits = limits;
  }

  get size(): number {
    return this.map.size;
  }

  get(key: string, nowMs: number): CacheEntry | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (e.expiresMs <= nowMs) {
      this.delete(key, e);
      return undefined;
    }
    // Re-inserting moves the key to the end: the map's order is least recently used first.
    this.map.delete(key);
    this.map.set(key, e);
    return e;
  }

  set(key: string, e: CacheEntry): void {
    const old = this.map.get(key);
    if (old) this.delete(key, old);
    if (e.bytes.length > this.limits.maxBytes) return;
    this.map.set(key, e);
    this.bytes += e.bytes.length;
    for (const [k, v] of this.map) {
      if (this.map.size <= this.limits.maxEntries && this.bytes <= this.limits.maxBytes) break;
      this.delete(k, v);
    }
  }

  private delete(key: string, e: CacheEntry): void {
    this.map.delete(key);
    this.bytes -= e.bytes.length;
  }
}
