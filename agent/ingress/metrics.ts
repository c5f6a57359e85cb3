// The ingress controller's Prometheus metrics: requests by ingress, status and upstream, request
// latency per ingress as histograms, and the open client connections per listener.
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Label values in the exposition format: backslash, quote and newline escaped. */
const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

interface Series {
  buckets: number[];
  sum: number;
  count: number;
}

export class IngressMetrics {
  private readonly requests = new Map<string, number>();
  private readonly latency = new Map<string, Series>();
  readonly open = { http: 0, https: 0 };

  request(ingress: string, status: number, upstream: string, seconds: number): void {
    const k = `ingress="${esc(ingress)}",status="${status}",upstream="${esc(upstream)}"`;
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1);
    const lk = `ingress="${esc(ingress)}"`;
    let s = this.latency.get(lk);
    if (!s) this.latency.set(lk, (s = { buckets: BUCKETS.map(() => 0), sum: 0, count: 0 }));
    for (const [i, b] of BUCKETS.entries()) if (seconds <= b) s.buckets[i]++;
    s.sum += seconds;
    s.count++;
  }

  render(): string {
    const out = [
      '# HELP skiff_ingress_requests_total Requests answered by the ingress.',
      '# TYPE skiff_ingress_requests_total counter',
    ];
    for (const [k, v] of this.requests) out.push(`skiff_ingress_requests_total{${k}} ${v}`);
    out.push(
      '# HELP skiff_ingress_request_duration_seconds Time from the request to the end of the response.',
      '# TYPE skiff_ingress_request_duration_seconds histogram',
    );
    for (const [k, s] of this.latency) {
      for (const [i, b] of BUCKETS.entries())
        out.push(`skiff_ingress_request_duration_seconds_bucket{${k},le="${b}"} ${s.buckets[i]}`);
      out.push(
        `skiff_ingress_request_duration_seconds_bucket{${k},le="+Inf"} ${s.count}`,
        `skiff_ingress_request_duration_seconds_sum{${k}} ${s.sum}`,
        `skiff_ingress_request_duration_seconds_count{${k}} ${s.count}`,
      );
    }
    out.push(
      '# HELP skiff_ingress_open_connections Client connections open now.',
      '# TYPE skiff_ingress_open_connections gauge',
      `skiff_ingress_open_connections{listener="http"} ${this.open.http}`,
      `skiff_ingress_open_connections{listener="https"} ${this.open.https}`,
    );
    return `${out.join('\n')}\n`;
  }
}
