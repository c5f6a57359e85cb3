// Prometheus text metrics: requests by verb/resource/code, latency histograms, open watches and
// store latency.
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

class Histogram {
  counts = new Map<string, { buckets: number[]; sum: number; count: number }>();
  observe(labels: string, seconds: number) {
    let h = this.counts.get(labels);
    if (!h) this.counts.set(labels, (h = { buckets: BUCKETS.map(() => 0), sum: 0, count: 0 }));
    BUCKETS.forEach((b, i) => {
      if (seconds <= b) h!.buckets[i]++;
    });
    h.sum += seconds;
    h.count++;
  }
  render(name: string): string[] {
    const out: string[] = [`# TYPE ${name} histogram`];
    for (const [labels, h] of this.counts) {
      for (const [i, b] of BUCKETS.entries()) out.push(`${name}_bucket{${labels},le="${b}"} ${h.buckets[i]}`);
      out.push(
        `${name}_bucket{${labels},le="+Inf"} ${h.count}`,
        `${name}_sum{${labels}} ${h.sum}`,
        `${name}_count{${labels}} ${h.count}`,
      );
    }
    return out;
  }
}

export class Metrics {
  private requests = new Map<string, number>();
  private latency = new Histogram();
  private storeLatency = new Histogram();
  openWatches = 0;

  request(verb: string, resource: string, code: number, seconds: number) {
    const key = `verb="${verb}",resource="${resource}",code="${code}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    if (verb !== 'WATCH') this.latency.observe(`verb="${verb}",resource="${resource}"`, seconds);
  }
  store(op: string, seconds: number) {
    this.storeLatency.observe(`operation="${op}"`, seconds);
  }

  render(): string {
    const lines = ['# TYPE apiserver_request_total counter'];
    for (const [k, v] of this.requests) lines.push(`apiserver_request_total{${k}} ${v}`);
    lines.push(...this.latency.render('apiserver_request_duration_seconds'));
    lines.push(
      '# TYPE apiserver_longrunning_requests gauge',
      `apiserver_longrunning_requests{verb="WATCH"} ${this.openWatches}`,
    );
    lines.push(...this.storeLatency.render('etcd_request_duration_seconds'));
    const mem = process.memoryUsage();
    lines.push('# TYPE process_resident_memory_bytes gauge', `process_resident_memory_bytes ${mem.rss}`);
    return lines.join('\n') + '\n';
  }
}
