// The agent's /metrics: a minimal Prometheus text exposition (format 0.0.4) of the counters,
// gauges and histograms its subsystems register (proxy, DNS, ingress), served over plain HTTP
// inside the node (default 127.0.0.1:10249, `--metrics-bind-address`).
import { createServer, type Server } from 'node:http';

type Labels = Record<string, string>;

/** The label part of a series as exposed (`{a="1"}`); also the key of its series. */
export const labelText = (l: Labels) => {
  const parts = Object.entries(l).map(
    ([k, v]) => `${k}="${String(v).replace(/["\\\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`,
  );
  return parts.length ? `{${parts.join(',')}}` : '';
};

interface Metric {
  readonly name: string;
  readonly help: string;
  /** The metric's sample lines (without HELP). */
  render(): string[];
}

/** A labelled value that is set (gauge) or only counts up (counter). */
export class Gauge implements Metric {
  readonly name: string;
  readonly help: string;
  readonly type: 'gauge' | 'counter';
  private values = new Map<string, number>();
  constructor(name: string, help: string, type: 'gauge' | 'counter' = 'gauge') {
    this.name = name;
    this.help = help;
    this.type = type;
  }
  set(v: number, labels: Labels = {}): void {
    this.values.set(labelText(labels), v);
  }
  inc(labels: Labels = {}, by = 1): void {
    this.incKey(labelText(labels), by);
  }
  /** inc with the label text computed once by the caller (hot paths). */
  incKey(key: string, by = 1): void {
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels)) ?? 0;
  }
  render(): string[] {
    return [`# TYPE ${this.name} ${this.type}`, ...[...this.values].map(([l, v]) => `${this.name}${l} ${v}`)];
  }
}

/** A counter: a Gauge that only counts up. */
export class Counter extends Gauge {
  constructor(name: string, help: string) {
    super(name, help, 'counter');
  }
}

/** A labelled histogram; bucket bounds ascending (seconds for latencies). */
export class Histogram implements Metric {
  readonly name: string;
  readonly help: string;
  readonly buckets: number[];
  private series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(name: string, help: string, buckets: number[]) {
    this.name = name;
    this.help = help;
    this.buckets = buckets;
  }
  observe(v: number, labels: Labels = {}): void {
    this.observeKey(v, labelText(labels), labels);
  }
  /** observe with the label text computed once by the caller (hot paths). */
  observeKey(v: number, k: string, labels: Labels): void {
    let s = this.series.get(k);
    if (!s) this.series.set(k, (s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]) s.counts[i]++;
    s.sum += v;
    s.count++;
  }
  /** Observations so far, over all label sets. */
  get samples(): number {
    let n = 0;
    for (const s of this.series.values()) n += s.count;
    return n;
  }
  render(): string[] {
    const lines = [`# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      for (const [i, b] of this.buckets.entries())
        lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(b) })} ${s.counts[i]}`);
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines;
  }
}

/** Exponential buckets: start, start*factor, ... (count of them). */
export const expBuckets = (start: number, factor: number, count: number) =>
  Array.from({ length: count }, (_, i) => Number((start * factor ** i).toPrecision(6)));

export class MetricsRegistry {
  private metrics: Metric[] = [];
  add<M extends Metric>(m: M): M {
    this.metrics.push(m);
    return m;
  }
  text(): string {
    return `${this.metrics.flatMap((m) => [`# HELP ${m.name} ${m.help}`, ...m.render()]).join('\n')}\n`;
  }
  /** Serves GET /metrics (and /healthz) on host:port until closed (port 0 picks one). */
  serve(port: number, host = '127.0.0.1'): Promise<Server> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (req.method === 'GET' && path === '/metrics') {
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
        res.end(this.text());
      } else if (req.method === 'GET' && path === '/healthz') {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('ok');
      } else {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('not found');
      }
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      // reusePort: a restarting agent listens next to the one it replaces.
      server.listen({ port, host, reusePort: true }, () => resolve(server));
    });
  }
}

/** Serves reg on host:port (see MetricsRegistry.serve). */
export function serveMetrics(reg: MetricsRegistry, host: string, port: number): Promise<Server> {
  return reg.serve(port, host);
}
