// Cluster DNS benchmark (not a test): dnsperf against Skiff's resolver, dnsmasq and unbound, each
// pinned to one core (taskset -c 1; dnsperf on core 0), all on 127.0.0.x loopback ports, serving
// the same names: 1000 cluster Services, and www.example (Skiff forwards it to a dnsmasq upstream).
// Workloads: cluster names; an outside name through a pod's search path (ndots:5: three cluster
// expansions, then the name); a cached outside name. QPS from dnsperf, p50/p99 from its per-query
// latencies (-v). Then the resolver's RSS with 10 000 Services in the zone. Beside them the floor
// of any resolver on Node's dgram: Skiff's sockets with a reflector instead of the resolver.
// QPS is measured at saturation; p50/p99 in a second run at a steady LATENCY_RATE queries/s.
// Usage: node bench/dns.ts [seconds per run, default 8] [latency rate, default 5000]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDnsmasq } from '../test/helpers/dns.ts';

const ROOT = join(import.meta.dirname, '..');
const NODE = join(ROOT, 'node_modules/.bin/node');
const SECONDS = Number(process.argv[2] ?? 8);
/** Queries per second of the latency runs (p50/p99): below every server's saturation. */
const LATENCY_RATE = Number(process.argv[3] ?? 5000);
const dir = mkdtempSync(join(tmpdir(), 'skiff-dnsbench-'));
const SERVICES = 1000;
const ip = (i: number) => `10.96.${1 + (i >> 8)}.${i & 255}`;
const children: ChildProcess[] = [];

function zone(n: number) {
  return {
    services: Array.from({ length: n }, (_, i) => ({
      metadata: { name: `web-${i}`, namespace: 'default' },
      spec: { clusterIP: ip(i), ports: [{ name: 'http', port: 80 }] },
    })),
    endpointSlices: [],
  };
}

/** Starts a child pinned to core 1 and resolves once `ready` matches its output (or after a probe answers). */
function start(cmd: string[], readyProbe: () => boolean): Promise<ChildProcess> {
  const c = spawn('taskset', ['-c', '1', ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(c);
  let out = '';
  c.stdout?.on('data', (d) => (out += d));
  c.stderr?.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 60_000;
    const poll = () => {
      if (readyProbe()) return resolve(c);
      if (c.exitCode !== null || Date.now() > deadline) return reject(new Error(`${cmd[0]} did not start: ${out}`));
      setTimeout(poll, 100);
    };
    poll();
  });
}

/** Whether a server answers `name` (with an answer record, or with any reply when `want` is ''). */
const answers = (host: string, port: number, name: string, want = 'ANSWER: 1') =>
  spawnSync('dig', ['+time=1', '+tries=1', '-p', String(port), `@${host}`, name], {
    encoding: 'utf8',
  }).stdout.includes(want || 'Got answer');

interface Result {
  qps: number;
  p50: number;
  p99: number;
  lost: number;
}

/**
 * Two runs per server and workload: QPS at saturation (500 queries outstanding, no per-query
 * output, which would make dnsperf itself the bottleneck), then latency at a steady rate every
 * server sustains (at saturation latency is only queueing: outstanding / QPS).
 */
function dnsperf(host: string, port: number, file: string): Result {
  const perf = (args: string[]) =>
    spawnSync('taskset', ['-c', '0', 'dnsperf', '-s', host, '-p', String(port), '-d', file, ...args], {
      encoding: 'utf8',
      maxBuffer: 1 << 30,
    }).stdout;
  // A short unmeasured run first: JIT warm-up for Skiff, caches filled for all.
  perf(['-l', '1', '-t', '1']);
  const sat = perf(['-l', String(SECONDS), '-q', '500', '-t', '2']);
  const steady = perf(['-l', String(Math.max(2, SECONDS / 2)), '-Q', String(LATENCY_RATE), '-q', '100', '-v']);
  const lat = [...steady.matchAll(/^> \S+ .* (\d+\.\d+)$/gm)].map((m) => Number(m[1]) * 1000).sort((a, b) => a - b);
  const pick = (q: number) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))] ?? Number.NaN;
  const lost = (out: string) => Number(out.match(/Queries lost:\s+(\d+)/)?.[1] ?? 0);
  return {
    qps: Number(sat.match(/Queries per second:\s+([\d.]+)/)?.[1] ?? 0),
    p50: pick(0.5),
    p99: pick(0.99),
    lost: lost(sat) + lost(steady),
  };
}

function rssMiB(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return m ? Math.round(Number(m[1]) / 1024) : Number.NaN;
}

async function main() {
  // Query files.
  const cluster = join(dir, 'cluster.txt'),
    search = join(dir, 'search.txt'),
    cached = join(dir, 'cached.txt');
  writeFileSync(cluster, Array.from({ length: SERVICES }, (_, i) => `web-${i}.default.svc.cluster.local A`).join('\n'));
  writeFileSync(
    search,
    [
      'www.example.default.svc.cluster.local A',
      'www.example.svc.cluster.local A',
      'www.example.cluster.local A',
      'www.example A',
    ].join('\n'),
  );
  writeFileSync(cached, 'www.example A');
  writeFileSync(join(dir, 'zone.json'), JSON.stringify(zone(SERVICES)));

  // The upstream Skiff forwards to (core 0 with dnsperf: it sees one query per TTL).
  const upstream = await startDnsmasq({ host: '127.0.0.84', port: 5304, records: ['www.example,192.0.2.8'] });
  // Skiff.
  await start(
    [NODE, join(ROOT, 'agent/dns/standalone.ts'), '127.0.0.81', '5301', join(dir, 'zone.json'), '127.0.0.84:5304'],
    () => answers('127.0.0.81', 5301, 'web-1.default.svc.cluster.local'),
  );
  // dnsmasq with the same names from a hosts file; authoritative NXDOMAIN for the rest of cluster.local.
  writeFileSync(
    join(dir, 'hosts'),
    Array.from({ length: SERVICES }, (_, i) => `${ip(i)} web-${i}.default.svc.cluster.local`).join('\n'),
  );
  await start(
    [
      'dnsmasq',
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--no-resolv',
      '--no-hosts',
      `--addn-hosts=${join(dir, 'hosts')}`,
      '--listen-address=127.0.0.82',
      '--bind-interfaces',
      '--port=5302',
      '--local=/#/',
      '--host-record=www.example,192.0.2.8',
      '--local-ttl=5',
      '--user=root',
      '--pid-file=',
      '--cache-size=10000',
    ],
    () => answers('127.0.0.82', 5302, 'web-1.default.svc.cluster.local'),
  );
  // unbound with the same names as local data.
  const conf = [
    'server:',
    '  interface: 127.0.0.83@5303',
    '  port: 5303',
    '  do-daemonize: no',
    '  num-threads: 1',
    '  username: ""',
    '  chroot: ""',
    '  pidfile: ""',
    '  use-syslog: no',
    '  verbosity: 0',
    '  access-control: 127.0.0.0/8 allow',
    '  module-config: "iterator"',
    '  local-zone: "cluster.local." static',
    '  local-zone: "example." static',
    '  local-data: "www.example. 300 IN A 192.0.2.8"',
    ...Array.from(
      { length: SERVICES },
      (_, i) => `  local-data: "web-${i}.default.svc.cluster.local. 5 IN A ${ip(i)}"`,
    ),
  ].join('\n');
  writeFileSync(join(dir, 'unbound.conf'), conf);
  await start(['unbound', '-d', '-c', join(dir, 'unbound.conf')], () =>
    answers('127.0.0.83', 5303, 'web-1.default.svc.cluster.local'),
  );

  // The same sockets as Skiff's with no resolver behind them (a reflector): Node's floor.
  await start([NODE, join(ROOT, 'bench/dns-reflector.ts'), '127.0.0.86', '5306'], () =>
    answers('127.0.0.86', 5306, 'web-1.default.svc.cluster.local', ''),
  );

  const servers = [
    ['skiff', '127.0.0.81', 5301],
    ['dnsmasq', '127.0.0.82', 5302],
    ['unbound', '127.0.0.83', 5303],
    ['node dgram reflector', '127.0.0.86', 5306],
  ] as const;
  const rows: string[] = [];
  const results: Record<string, Record<string, Result>> = {};
  for (const [name, host, port] of servers) {
    results[name] = {};
    const workloads = [
      ['cluster names', cluster],
      ['outside name via search path', search],
      ['cached outside name', cached],
    ] as const;
    // The reflector answers everything alike: one workload shows its floor.
    for (const [wl, file] of name === 'node dgram reflector' ? workloads.slice(0, 1) : workloads) {
      const r = dnsperf(host, port, file);
      results[name][wl] = r;
      rows.push(`| ${name} | ${wl} | ${Math.round(r.qps)} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${r.lost} |`);
      console.error(`${name} / ${wl}: ${Math.round(r.qps)} qps`);
    }
  }
  for (const c of children) c.kill('SIGTERM');
  children.length = 0;

  // RSS with 10 000 Services.
  writeFileSync(join(dir, 'zone10k.json'), JSON.stringify(zone(10_000)));
  const big = await start(
    [NODE, join(ROOT, 'agent/dns/standalone.ts'), '127.0.0.85', '5305', join(dir, 'zone10k.json'), '-'],
    () => answers('127.0.0.85', 5305, 'web-9999.default.svc.cluster.local'),
  );
  const rss = rssMiB(big.pid!);
  big.kill('SIGTERM');
  await upstream.stop();

  const s = results.skiff,
    d = results.dnsmasq;
  console.log(`| server | workload | QPS (saturated) | p50 ms @${LATENCY_RATE}/s | p99 ms @${LATENCY_RATE}/s | lost |`);
  console.log('| --- | --- | --- | --- | --- | --- |');
  console.log(rows.join('\n'));
  console.log(
    `\nskiff/dnsmasq cluster-name QPS: ${(s['cluster names'].qps / d['cluster names'].qps).toFixed(2)}x; ` +
      (`skiff search-path/cluster ` +
        `QPS: ${(s['outside name via search path'].qps / s['cluster names'].qps).toFixed(2)}x; `) +
      `resolver RSS with 10k Services: ${rss} MiB; ` +
      `skiff/reflector cluster-name QPS: ` +
      `${(s['cluster names'].qps / results['node dgram reflector']['cluster names'].qps).toFixed(2)}x`,
  );
}

try {
  await main();
} finally {
  for (const c of children) c.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
