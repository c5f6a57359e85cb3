// Network programming latency of the service proxy across the nodes of a 3-node sandbox: from an
// EndpointSlice change sent to the API to its rules applied on each node, p50/p99 per node and
// over all, for 200 endpoint changes spaced 50 ms apart (goal: p99 ≤ 100 ms).
// The Services are selector-less with hand-written EndpointSlices: the bench itself stamps each
// change's `endpoints.kubernetes.io/last-change-trigger-time` with the moment it sends the write,
// so the figure starts at the API request (with a Service over pods it would start when the
// EndpointSlice controller saw the pod change, and a pod's readiness cannot be flipped every
// 50 ms). Every agent logs each change's exact latency when its transaction is applied
// (agent/proxy/proxy.ts, the same sample its histogram observes); the histogram's count on each
// node's /metrics, read inside the node, is checked against it, and its bucket quantiles shown.
// The API requests and /metrics reads run inside the sandbox's node namespaces (nsenter).
// Usage: node bench/proxy-latency.ts [--changes 200] [--spacing 50] [--services 10] [--name pllat]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { loadState } from '../agent/sandbox/sandbox.ts';
import { ROOT, SKIFF } from '../test/helpers/server.ts';
import { until } from '../test/helpers/sandbox.ts';
import { pct } from './client.ts';

const args = process.argv.slice(2);
const opt = (name: string, d: string) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : d);
const CHANGES = Number(opt('changes', '200'));
const SPACING = Number(opt('spacing', '50'));
const SERVICES = Number(opt('services', '10'));
const NAME = opt('name', 'pllat');
/** The agents' --proxy-shards (their default when not given). */
const SHARDS = opt('shards', '');
const NODE = join(ROOT, 'node_modules/.bin/node');
const METRIC = 'skiff_proxy_network_programming_duration_seconds';

/** The children running now (the driver, curl), stopped if the bench is interrupted. */
const running = new Set<ReturnType<typeof execa>>();
const track = (p: ReturnType<typeof execa>) => {
  running.add(p);
  p.finally(() => running.delete(p)).catch(() => {});
  return p;
};
const skiff = (a: string[]) => track(execa(SKIFF, a, { reject: false, all: true, timeout: 300_000 }));
/** Runs in a node's network namespace (nsenter directly, so that stopping it stops the command). */
const exec = (node: string, cmd: string[]) => {
  const n = loadState(NAME)?.nodes.find((x) => x.name === node);
  if (!n) throw new Error(`no node ${node} in sandbox ${NAME}`);
  return track(execa('nsenter', [`--net=/run/netns/${n.ns}`, ...cmd], { reject: false, all: true, timeout: 300_000 }));
};
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** The programming histogram of one node (read inside it): cumulative buckets and the count. */
async function histogram(node: string) {
  const r = await exec(node, ['curl', '-sf', '--max-time', '5', 'http://127.0.0.1:10249/metrics']);
  if (r.exitCode !== 0) throw new Error(`${node} /metrics: ${r.all}`);
  const text = String(r.stdout);
  const buckets = [...text.matchAll(new RegExp(`^${METRIC}_bucket\\{le="([^"]+)"\\} (\\d+)$`, 'gm'))].map((m) => ({
    le: m[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[1]),
    n: Number(m[2]),
  }));
  const line = text.match(new RegExp(`^${METRIC}_count (\\d+)$`, 'm'));
  const services = Number(text.match(/^skiff_proxy_services (\d+)/m)?.[1] ?? 0);
  return { buckets, count: Number(line?.[1] ?? 0), services };
}

/** The quantile from bucket deltas: the upper bound of the bucket holding that rank (the rank `pct` picks). */
function bucketQuantile(before: { le: number; n: number }[], after: { le: number; n: number }[], q: number) {
  const delta = after.map((b) => ({ le: b.le, n: b.n - (before.find((x) => x.le === b.le)?.n ?? 0) }));
  const total = delta.at(-1)?.n ?? 0;
  const rank = Math.min(total, Math.floor(q * total) + 1);
  return delta.find((b) => b.n >= rank)?.le ?? Number.NaN;
}

let up: ReturnType<typeof execa> | undefined;
let downing: Promise<unknown> | undefined;
/** Once, also when both the interrupt and the `finally` ask; after a `sandbox up` still running. */
const down = () =>
  (downing ??= (async () => {
    await up?.catch(() => {});
    await execa(SKIFF, ['sandbox', 'down', '--name', NAME], { reject: false, timeout: 300_000 });
  })());
// Interrupted (Ctrl-C, timeout): the sandbox still goes, with its namespaces and routes. `on`, not
// `once`: execa's exit hook re-raises the signal (killing us before the cleanup) once it is the only
// listener left.
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => {
    for (const p of running) if (p !== up) p.kill('SIGKILL');
    down().finally(() => process.exit(130));
  });

try {
  up = skiff([
    'sandbox',
    'up',
    '--name',
    NAME,
    '--nodes',
    '3',
    ...(SHARDS ? [`--agent-arg=--proxy-shards=${SHARDS}`] : []),
  ]);
  const r = await up;
  if (r.exitCode !== 0) throw new Error(String(r.all));
  const s = loadState(NAME)!;
  const nodes = s.nodes.map((n) => n.name);
  const driver = (a: string[]) =>
    exec('node1', [NODE, '--disable-warning=ExperimentalWarning', join(ROOT, 'bench/proxy-latency-driver.ts'), ...a]);
  const before = new Map<string, Awaited<ReturnType<typeof histogram>>>();
  for (const n of nodes) before.set(n, await histogram(n));
  const setup = await driver([s.kubeconfig, 'setup', String(SERVICES)]);
  if (setup.exitCode !== 0) throw new Error(String(setup.all));
  // Every node has the bench's Services programmed before the first change.
  for (const n of nodes)
    await until(
      `${n} programs the Services`,
      async () => (await histogram(n)).services >= (before.get(n)?.services ?? 0) + SERVICES,
      60_000,
    );
  for (const n of nodes) before.set(n, await histogram(n));
  const logAt = new Map(nodes.map((n) => [n, readFileSync(join(s.dir, `agent-${n}.log`), 'utf8').length]));
  const loadBefore = load();
  const run = await driver([s.kubeconfig, 'change', String(SERVICES), String(CHANGES), String(SPACING)]);
  if (run.exitCode !== 0) throw new Error(String(run.all));
  const sent = JSON.parse(String(run.stdout).trim().split('\n').pop()!) as {
    slice: string;
    trigger: string;
    apiMs: number;
  }[];
  const wanted = new Set(sent.map((c) => `${c.slice} ${c.trigger}`));
  // Each node's exact sample per change, from its log (a change coalesced into a later one on
  // the same slice before a node saw it has no sample there: counted as missing).
  const samples = new Map<string, number[]>();
  const since = (n: string) => readFileSync(join(s.dir, `agent-${n}.log`), 'utf8').slice(logAt.get(n));
  const read = (n: string) => {
    const got: number[] = [];
    for (const m of since(n).matchAll(/proxy: programmed (\S+) (\d+) ms after its change \(trigger (\S+)\)/g))
      if (wanted.has(`${m[1]} ${m[3]}`)) got.push(Number(m[2]));
    return got;
  };
  /** The node's partial syncs meanwhile (where the time goes): how many, and how long each took. */
  const syncs = (n: string) =>
    [...since(n).matchAll(/proxy: partial sync of (\d+) service\(s\) in ([\d.]+) ms/g)]
      .filter((m) => m[1] !== '0') // not the cleanups
      .map((m) => Number(m[2]));
  await until(
    'every node has logged every change',
    async () => nodes.every((n) => read(n).length >= CHANGES),
    30_000,
  ).catch(() => {});
  for (const n of nodes) samples.set(n, read(n));
  const loadAfter = load();

  console.log(
    `# Network programming latency: ${CHANGES} endpoint changes, one every ${SPACING} ms, round robin ` +
      `over ${SERVICES} selector-less Services (5 endpoints each), ${nodes.length} nodes\n`,
  );
  console.log(`load average before ${loadBefore}, after ${loadAfter} (1, 5, 15 min)`);
  console.log(
    `API write (PATCH of the slice, from node1): p50 ${pct(
      sent.map((c) => c.apiMs),
      50,
    ).toFixed(1)} ms, p99 ${pct(
      sent.map((c) => c.apiMs),
      99,
    ).toFixed(1)} ms\n`,
  );
  console.log(
    '| node | samples | p50 | p99 | max | histogram count Δ | histogram p50 / p99 (bucket bound) ' +
      '| partial syncs (p50 / p99 of their duration) |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const all: number[] = [];
  for (const n of nodes) {
    const xs = samples.get(n)!;
    const sy = syncs(n);
    all.push(...xs);
    const h = await histogram(n);
    const b = before.get(n)!;
    console.log(
      `| ${n} | ${xs.length}/${CHANGES} | ${pct(xs, 50)} ms | ${pct(xs, 99)} ms | ${Math.max(...xs)} ms | ` +
        `${h.count - b.count} | ≤${bucketQuantile(b.buckets, h.buckets, 0.5) * 1000} / ` +
        `≤${bucketQuantile(b.buckets, h.buckets, 0.99) * 1000} ms | ` +
        `${sy.length} (${pct(sy, 50)} / ${pct(sy, 99)} ms) |`,
    );
  }
  const p99 = pct(all, 99);
  console.log(
    `| all | ${all.length}/${CHANGES * nodes.length} | ${pct(all, 50)} ms | ${p99} ms | ${Math.max(...all)} ms | | | |`,
  );
  console.log(`\noverall p99 ${p99} ms: goal p99 ≤ 100 ms ${p99 <= 100 ? 'met' : 'missed'}`);
} finally {
  await down();
}
