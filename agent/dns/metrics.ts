// The resolver's metrics: queries by type and rcode, cache hits and misses, upstream latency and
// the time from receiving a query to having its answer.
import { Counter, Histogram, labelText, type MetricsRegistry } from '../metrics.ts';
import { TYPE } from './wire.ts';

const TYPE_NAMES = new Map<number, string>(Object.entries(TYPE).map(([k, v]) => [v, k]));
const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export class DnsMetrics {
  readonly queries = new Counter('skiff_dns_queries_total', 'DNS queries answered, by query type and response code.');
  readonly dropped = new Counter('skiff_dns_dropped_total', 'DNS messages dropped without an answer, by reason.');
  readonly cacheHits = new Counter('skiff_dns_cache_hits_total', 'Forwarded names answered from the cache.');
  readonly cacheMisses = new Counter('skiff_dns_cache_misses_total', 'Forwarded names not in the cache.');
  readonly upstreamErrors = new Counter('skiff_dns_upstream_errors_total', 'Upstream attempts that failed, by reason.');
  readonly upstreamLatency = new Histogram(
    'skiff_dns_upstream_duration_seconds',
    'Time an upstream took to answer, by upstream.',
    BUCKETS,
  );
  readonly answerLatency = new Histogram(
    'skiff_dns_response_duration_seconds',
    'Time from a query arriving to its answer being ready, by source (zone, cache, upstream).',
    BUCKETS,
  );

  register(reg: MetricsRegistry): void {
    for (const m of [
      this.queries,
      this.dropped,
      this.cacheHits,
      this.cacheMisses,
      this.upstreamErrors,
      this.upstreamLatency,
      this.answerLatency,
    ])
      reg.add(m);
  }

  // Label texts per (type, rcode) and per source, made once: building them per query cost more
  // than answering it.
  private queryKeys = new Map<number, string>();
  private sourceKeys = new Map<string, string>();

  answered(qtype: number, rcode: number, source: string, seconds: number): void {
    const id = qtype * 16 + rcode;
    let key = this.queryKeys.get(id);
    if (key === undefined) {
      key = labelText({ type: TYPE_NAMES.get(qtype) ?? String(qtype), rcode: RCODE_NAMES[rcode] ?? String(rcode) });
      if (this.queryKeys.size < 4096) this.queryKeys.set(id, key);
    }
    this.queries.incKey(key);
    let src = this.sourceKeys.get(source);
    if (src === undefined) {
      src = labelText({ source });
      this.sourceKeys.set(source, src);
    }
    this.answerLatency.observeKey(seconds, src, { source });
  }
}
