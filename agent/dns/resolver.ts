// One query in, one answer out: parse (hardened), then the cluster zone from memory, or the
// forwarder for outside names, or an ExternalName's CNAME with its target chased upstream.
// Returns synchronously whenever it can (every cluster name), a promise only for forwarding.
import { performance } from 'node:perf_hooks';
import dnsPacket from 'dns-packet';
import { badVersResponse, buildResponse, rcodeResponse, TCP_LIMIT, udpLimit, zoneResponse } from './answer.ts';
import type { Forwarder } from './forwarder.ts';
import { lookup } from './lookup.ts';
import type { DnsMetrics } from './metrics.ts';
import { joinSets, type RRSet } from './rr.ts';
import { errorResponse, parseQuery, type Query, RCODE } from './wire.ts';
import { renderZone, type Zone } from './zone.ts';

export class Resolver {
  zone: Zone;
  private metrics: DnsMetrics;
  private forwarder: Forwarder | null;

  constructor(domain: string, metrics: DnsMetrics, forwarder: Forwarder | null) {
    this.metrics = metrics;
    this.forwarder = forwarder;
    this.zone = renderZone({ services: [], endpointSlices: [] }, { domain, ttl: 5, dnsIP: '127.0.0.1', serial: 1 });
  }

  /** The answer to a message, null to drop it. Never throws. */
  handle(msg: Buffer, tcp: boolean): Buffer | null | Promise<Buffer | null> {
    const t0 = performance.now();
    let parsed: ReturnType<typeof parseQuery>;
    try {
      parsed = parseQuery(msg);
    } catch {
      parsed = null; // the parser is written not to throw; this is the belt to its braces
    }
    if (!parsed) {
      this.metrics.dropped.inc({ reason: 'malformed' });
      return null;
    }
    if (!parsed.ok) {
      this.metrics.queries.inc({ type: 'invalid', rcode: String(parsed.rcode) });
      return errorResponse(parsed.id, parsed.flags, parsed.rcode);
    }
    const q = parsed.query;
    if (q.edns && q.edns.version !== 0) return badVersResponse(q);
    const limit = tcp ? TCP_LIMIT : udpLimit(q);
    const r = lookup(this.zone, q.name, q.type);
    if (r.kind === 'forward') {
      if (!this.forwarder) return this.done(q, rcodeResponse(q, RCODE.SERVFAIL), 'error', t0);
      return this.forwarder
        .forward(q, limit)
        .then((f) => this.done(q, f.response, f.source, t0))
        .catch(() => this.done(q, rcodeResponse(q, RCODE.SERVFAIL), 'error', t0));
    }
    if (r.kind === 'cname') {
      return this.chase(q, r.set, r.target, limit)
        .then((b) => this.done(q, b, 'upstream', t0))
        .catch(() => this.done(q, rcodeResponse(q, RCODE.SERVFAIL), 'error', t0));
    }
    return this.done(q, zoneResponse(q, this.zone, r, limit), 'zone', t0);
  }

  private done(q: Query, res: Buffer, source: string, t0: number): Buffer {
    this.metrics.answered(q.type, res[3] & 0xf, source, (performance.now() - t0) / 1000);
    return res;
  }

  /** ExternalName: our CNAME, then the target's records of the asked type as an upstream gives them. */
  private async chase(q: Query, cname: RRSet, target: string, limit: number): Promise<Buffer> {
    const entry = this.forwarder ? await this.forwarder.lookup(target, q.type) : null;
    if (!entry) return buildResponse(q, RCODE.SERVFAIL, false, cname, null, limit);
    const decoded = dnsPacket.decode(entry.bytes);
    const aged = Math.floor((Date.now() - entry.storedMs) / 1000);
    const answers = (decoded.answers ?? []).map((a) => ({
      ...a,
      ttl: Math.max(0, (a as { ttl?: number }).ttl ?? 0) - aged,
    }));
    // Re-encoded with names written out: the upstream's compression pointers are not valid here.
    const chased = answers.length ? dnsPacket.encode({ answers: answers as dnsPacket.Answer[] }).subarray(12) : null;
    const set = chased ? joinSets([cname, { count: answers.length, bytes: chased }]) : cname;
    return buildResponse(q, entry.rcode, true, set, null, limit);
  }
}
