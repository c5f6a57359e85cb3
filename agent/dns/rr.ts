// Resource records encoded once, when the zone is rendered, so that an answer is a copy of bytes.
// A record whose owner is the question name starts with the compression pointer 0xC00C (offset 12,
// where the question name always sits in our answers); records with another owner (the SOA in the
// authority section) carry their name in full. dns-packet does the rdata encoding.
import dnsPacket, { type Answer } from 'dns-packet';

/** Encoded records of one set: the count and their concatenated bytes. */
export interface RRSet {
  count: number;
  bytes: Buffer;
}

/** A record before encoding (dns-packet's Answer, minus its OPT variant's shape). */
export interface Rec {
  name: string;
  ttl: number;
  type: string;
  data: unknown;
}

/** Encodes records whose owner is the question name (written as a pointer to offset 12). */
export function encodeAtQuestion(records: Rec[]): RRSet {
  const parts: Buffer[] = [];
  for (const r of records) {
    const wire = dnsPacket.encode({ answers: [{ ...r, name: '.' } as Answer] }).subarray(12);
    // The root owner is the single byte 0 at the start; swap it for the pointer.
    parts.push(Buffer.from([0xc0, 0x0c]), wire.subarray(1));
  }
  return { count: records.length, bytes: Buffer.concat(parts) };
}

/** Encodes records with their own owner names, uncompressed. */
export function encodeOwned(records: Rec[]): RRSet {
  const parts = records.map((r) => dnsPacket.encode({ answers: [r as Answer] }).subarray(12));
  return { count: records.length, bytes: Buffer.concat(parts) };
}

export function joinSets(sets: RRSet[]): RRSet {
  if (sets.length === 1) return sets[0];
  return { count: sets.reduce((n, s) => n + s.count, 0), bytes: Buffer.concat(sets.map((s) => s.bytes)) };
}
