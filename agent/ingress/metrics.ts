// The ingress controller's Prometheus metrics: requests by ingress, status and upstream, request
// latency per ingress as histograms, and the open client connections per listener.
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Label values in the exposition format: backslash, quote and newline escaped. */
const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

interface Series {
  /** Observations per bucket, not cumulative (made cumulative when rendered); the last is +Inf. */
  buckets: number[];
  sum: number;
  count: number;
}

interface Counter {
  ingress: string;
  status: number;
  upstream: string;
  n: number;
}

export class IngressMetrics {
  // Keyed by plain joined strings: escaping and label text are made only when rendered.
  private readonly requests = new Map<string, Counter>();
  private readonly latency = new Map<string, Series>();
  readonly open = { http: 0, https: 0 };

  request(ingress: string, status: number, upstream: string, seconds: number): void {
    const k = `${ingress}\n${status}\n${upstream}`;
    const c = this.requests.get(k);
    if (c) c.n++;
    else this.requests.set(k, { ingress, status, upstream, n: 1 });
    let s = this.latency.get(ingress);
    if (!s) this.latency.set(ingress, (s = { buckets: new Array(BUCKETS.length + 1).fill(0), sum: 0, count: 0 }));
    let i = 0;
    while (i < BUCKETS.length && seconds > BUCKETS[i]) i++;
    s.buckets[i]++;
    s.sum += seconds;
    s.count++;
  }

  render(): string {
    const out = [
      '# HELP skiff_ingress_requests_total Requests answered by the ingress.',
      '# TYPE skiff_ingress_requests_total counter',
    ];
    for (const c of this.requests.values())
      out.push(
        `skiff_ingress_requests_total{ingress="${esc(c.ingress)}",status="${c.status}",` +
          `upstream="${esc(c.upstream)}"} ${c.n}`,
      );
    out.push(
      '# HELP skiff_ingress_request_duration_seconds Time from the request to the end of the response.',
      '# TYPE skiff_ingress_request_duration_seconds histogram',
    );
    for (const [ingress, s] of this.latency) {
      const k = `ingress="${esc(ingress)}"`;
      let below = 0;
      for (const [i, b] of BUCKETS.entries()) {
        below += s.buckets[i];
        out.push(`skiff_ingress_request_duration_seconds_bucket{${k},le="${b}"} ${below}`);
      }
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
