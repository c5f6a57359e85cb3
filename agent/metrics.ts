// The agent's /metrics: a minimal Prometheus text exposition (format 0.0.4) of histograms,
// gauges and counters that subsystems register, served over plain HTTP inside the node.
import { createServer, type Server } from 'node:http';

type Labels = Record<string, string>;
const labelText = (l: Labels) => {
  const parts = Object.entries(l).map(
    ([k, v]) => `${k}="${v.replace(/["\\\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`,
  );
  return parts.length ? `{${parts.join(',')}}` : '';
};

interface Metric {
  name: string;
  help: string;
  render(): string[];
}

export class Histogram implements Metric {
  readonly name: string;
  readonly help: string;
  readonly buckets: number[];
  private counts: number[];
  private sum = 0;
  private count = 0;
  constructor(name: string, help: string, buckets: number[]) {
    this.name = name;
    this.help = help;
    this.buckets = buckets;
    this.counts = buckets.map(() => 0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]) this.counts[i]++;
  }
  get samples(): number {
    return this.count;
  }
  render(): string[] {
    return [
      `# TYPE ${this.name} histogram`,
      ...this.buckets.map((b, i) => `${this.name}_bucket${labelText({ le: String(b) })} ${this.counts[i]}`),
      `${this.name}_bucket{le="+Inf"} ${this.count}`,
      `${this.name}_sum ${this.sum}`,
      `${this.name}_count ${this.count}`,
    ];
  }
}

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
  inc(labels: Labels = {}): void {
    const k = labelText(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + 1);
  }
  render(): string[] {
    return [`# TYPE ${this.name} ${this.type}`, ...[...this.values].map(([l, v]) => `${this.name}${l} ${v}`)];
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
  /** Serves GET /metrics (and /healthz) until closed. */
  serve(port: number, host = '0.0.0.0'): Promise<Server> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path === '/metrics') {
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
        res.end(this.text());
      } else if (path === '/healthz') {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('ok');
      } else {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('not found');
      }
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve(server));
    });
  }
}
