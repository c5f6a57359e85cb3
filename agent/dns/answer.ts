// Building answers from pre-encoded record sets: a header, the client's own question bytes, then
// the sets copied as they are (their owner pointer 0xC00C lands on the question name). A UDP answer
// larger than the client may receive goes out empty with TC set, so the client retries over TCP.
import type { Lookup } from './lookup.ts';
import type { RRSet } from './rr.ts';
import { FLAG, OPT_BADVERS, OPT_RR, RCODE, type Query, responseFlags, writeHeader } from './wire.ts';
import type { Zone } from './zone.ts';

/** The most a UDP answer may carry for this query: 512 without EDNS, else the client's size up to 4096. */
export function udpLimit(q: Query): number {
  return q.edns ? Math.min(q.edns.size, 4096) : 512;
}

export const TCP_LIMIT = 65535;

export function buildResponse(
  q: Query,
  rcode: number,
  aa: boolean,
  answer: RRSet | null,
  authority: RRSet | null,
  limit: number,
): Buffer {
  const opt = q.edns ? OPT_RR : null;
  const an = answer?.count ?? 0,
    ns = authority?.count ?? 0;
  const size =
    12 + q.question.length + (answer?.bytes.length ?? 0) + (authority?.bytes.length ?? 0) + (opt?.length ?? 0);
  const extra = aa ? FLAG.AA : 0;
  if (size > limit) {
    const out = Buffer.allocUnsafe(12 + q.question.length + (opt?.length ?? 0));
    writeHeader(out, q.id, responseFlags(q.flags, rcode, extra | FLAG.TC), 1, 0, 0, opt ? 1 : 0);
    q.question.copy(out, 12);
    opt?.copy(out, 12 + q.question.length);
    return out;
  }
  const out = Buffer.allocUnsafe(size);
  writeHeader(out, q.id, responseFlags(q.flags, rcode, extra), 1, an, ns, opt ? 1 : 0);
  let off = 12 + q.question.copy(out, 12);
  if (answer) off += answer.bytes.copy(out, off);
  if (authority) off += authority.bytes.copy(out, off);
  if (opt) opt.copy(out, off);
  return out;
}

/** The answer for a name of the cluster zone (any Lookup but `forward` and `cname`). */
export function zoneResponse(q: Query, zone: Zone, r: Lookup, limit: number): Buffer {
  switch (r.kind) {
    case 'answer':
      return buildResponse(q, RCODE.NOERROR, true, r.set, null, limit);
    case 'nxdomain':
      return buildResponse(q, RCODE.NXDOMAIN, true, null, zone.soa, limit);
    default:
      return buildResponse(q, RCODE.NOERROR, true, null, zone.soa, limit);
  }
}

/** An answer with only a header, the question and an rcode (SERVFAIL, REFUSED). */
export function rcodeResponse(q: Query, rcode: number): Buffer {
  return buildResponse(q, rcode, false, null, null, TCP_LIMIT);
}

/** EDNS version other than 0: BADVERS (RFC 6891 §6.1.3), carried in the OPT's extended rcode. */
export function badVersResponse(q: Query): Buffer {
  const out = Buffer.allocUnsafe(12 + q.question.length + OPT_BADVERS.length);
  writeHeader(out, q.id, responseFlags(q.flags, 0), 1, 0, 0, 1);
  q.question.copy(out, 12);
  OPT_BADVERS.copy(out, 12 + q.question.length);
  return out;
}
