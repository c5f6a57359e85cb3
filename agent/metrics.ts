// A minimal Prometheus text-format registry and its HTTP endpoint for the agent's subsystems:
// labelled counters and histograms, rendered on each scrape of /metrics.
import { createServer, type Server } from 'node:http';

type Labels = Record<string, string>;

/** The label part of a series as exposed (`{a="1"}`); also the key of its series. */
export const labelText = (l: Labels) => {
  const keys = Object.keys(l);
  if (!keys.length) return '';
  return `{${keys.map((k) => `${k}="${String(l[k]).replace(/["\\\n]/g, '\\$&')}"`).join(',')}}`;
};

interface Metric {
  render(): string;
}

export class Counter implements Metric {
  private values = new Map<string, number>();
  readonly name: string;
  readonly help: string;
  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
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
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, v] of this.values) lines.push(`${this.name}${k} ${v}`);
    return lines.join('\n');
  }
}

export class Histogram implements Metric {
  private series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  readonly name: string;
  readonly help: string;
  /** Upper bounds in seconds, ascending. */
  readonly buckets: number[];
  constructor(name: string, help: string, buckets: number[]) {
    this.name = name;
    this.help = help;
    this.buckets = buckets;
  }
  observe(seconds: number, labels: Labels = {}): void {
    this.observeKey(seconds, labelText(labels), labels);
  }
  /** observe with the label text computed once by the caller (hot paths). */
  observeKey(seconds: number, k: string, labels: Labels): void {
    let s = this.series.get(k);
    if (!s) {
      s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (seconds <= this.buckets[i]) s.counts[i]++;
    s.sum += seconds;
    s.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      for (let i = 0; i < this.buckets.length; i++)
        lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(this.buckets[i]) })} ${s.counts[i]}`);
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

export class MetricsRegistry {
  private metrics: Metric[] = [];
  add<M extends Metric>(m: M): M {
    this.metrics.push(m);
    return m;
  }
  render(): string {
    return `${this.metrics.map((m) => m.render()).join('\n')}\n`;
  }
}

/** Serves GET /metrics on host:port (port 0 picks one); resolves once listening. */
export function serveMetrics(reg: MetricsRegistry, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(reg.render());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // reusePort: a restarting agent listens next to the one it replaces.
    server.listen({ port, host, reusePort: true }, () => resolve(server));
  });
}
