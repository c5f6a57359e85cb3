// API benchmark: create and update throughput and p50/p99 latency with 20 concurrent clients,
// and watch delivery latency to 100 watchers, on the embedded store and on a one-member etcd,
// printed beside etcdctl's own put throughput on the same etcd (`etcdctl check perf`, 60 s) and
// raw etcd3-client puts with the same concurrency, so the ratio shows what the API layer costs.
// Then, on the embedded store filled with --list-mb MiB of ConfigMaps: /readyz and a small GET's
// p50/p99 while 10 clients list everything (in a worker thread), and the server's RSS with 1,000
// open watches. Everything runs on 127.0.0.1.
// Usage: node bench/api.ts [--objects N] [--list-mb M] [--skip-etcdctl] [--only-load]
import { Agent, request } from 'node:https';
import { readFileSync, rmSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { execa } from 'execa';
import { Etcd3 } from 'etcd3';
import { credentials, spawnServer, tempDir } from '../test/helpers/server.ts';
import { freePort, startEtcd } from '../test/helpers/etcd.ts';
import { agent, call, pct, type Base } from './client.ts';

const args = process.argv.slice(2);
const N = Number(args[args.indexOf('--objects') + 1]) || 2000;
const CONCURRENCY = 20,
  WATCHERS = 100,
  EVENTS = 200;

async function load(
  n: number,
  op: (i: number) => Promise<void>,
): Promise<{ perSec: number; p50: number; p99: number }> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) {
        const i = next++;
        const s = performance.now();
        await op(i);
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  return { perSec: n / secs, p50: pct(lat, 50), p99: pct(lat, 99) };
}

async function watchDelivery(base: Base): Promise<{ p50: number; p99: number; delivered: number }> {
  await call(base, 'POST', '/api/v1/namespaces', { metadata: { name: 'bench-watch' } });
  const delays: number[] = [];
  const streams = await Promise.all(
    Array.from(
      { length: WATCHERS },
      () =>
        new Promise<{ close(): void }>((resolve) => {
          const req = request(
            base.server + '/api/v1/namespaces/bench-watch/configmaps?watch=1&resourceVersion=1&timeoutSeconds=120',
            { ca: base.ca, headers: { Authorization: `Bearer ${base.token}` } },
            (res) => {
              let buf = '';
              res.on('data', (c: Buffer) => {
                buf += c.toString();
                let nl: number;
                while ((nl = buf.indexOf('\n')) >= 0) {
                  const line = buf.slice(0, nl);
                  buf = buf.slice(nl + 1);
                  const ev = JSON.parse(line);
                  if (ev.type === 'ADDED' && ev.object.data?.t)
                    delays.push(performance.timeOrigin + performance.now() - Number(ev.object.data.t));
                }
              });
              resolve({ close: () => req.destroy() });
            },
          );
          req.on('error', () => {});
          req.end();
        }),
    ),
  );
  await new Promise((r) => setTimeout(r, 500));
  for (let i = 0; i < EVENTS; i++) {
    await call(base, 'POST', '/api/v1/namespaces/bench-watch/configmaps', {
      metadata: { name: `w${i}` },
      data: { t: String(performance.timeOrigin + performance.now()) },
    });
    await new Promise((r) => setTimeout(r, 5));
  }
  const end = Date.now() + 10_000;
  while (delays.length < WATCHERS * EVENTS && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  for (const s of streams) s.close();
  return { p50: pct(delays, 50), p99: pct(delays, 99), delivered: delays.length };
}

async function runApi(label: string, extra: string[]) {
  const dir = tempDir('bench');
  const srv = await spawnServer(dir, await freePort(), extra);
  try {
    const base = credentials(srv.kubeconfig);
    await call(base, 'POST', '/api/v1/namespaces', { metadata: { name: 'bench' } });
    const rvs: string[] = [];
    const create = await load(N, async (i) => {
      const r = await call(base, 'POST', '/api/v1/namespaces/bench/configmaps', {
        metadata: { name: `c${i}` },
        data: { v: '0' },
      });
      if (r.status !== 201) throw new Error(`create ${r.status}`);
      rvs[i] = r.json.metadata.resourceVersion;
    });
    const update = await load(N, async (i) => {
      const r = await call(base, 'PUT', `/api/v1/namespaces/bench/configmaps/c${i}`, {
        metadata: { name: `c${i}`, resourceVersion: rvs[i] },
        data: { v: '1' },
      });
      if (r.status !== 200) throw new Error(`update ${r.status}`);
    });
    const watch = await watchDelivery(base);
    const rss = (await execa('ps', ['-o', 'rss=', '-p', String(srv.proc.pid)])).stdout.trim();
    console.log(
      `${label.padEnd(10)} create ${create.perSec.toFixed(0).padStart(6)}/s p50 ${create.p50.toFixed(1)}ms ` +
        `p99 ${create.p99.toFixed(1)}ms | update ${update.perSec.toFixed(0).padStart(6)}/s ` +
        `p50 ${update.p50.toFixed(1)}ms p99 ${update.p99.toFixed(1)}ms | watch ${WATCHERS}x${EVENTS} ` +
        `p50 ${watch.p50.toFixed(1)}ms p99 ${watch.p99.toFixed(1)}ms (${watch.delivered} delivered) | server ` +
        `RSS ${(Number(rss) / 1024).toFixed(0)} MiB`,
    );
    return { create, update };
  } finally {
    srv.proc.kill('SIGTERM');
    await srv.proc;
    rmSync(dir, { recursive: true, force: true });
  }
}

async function rawEtcdPuts(endpoints: string[]): Promise<number> {
  const c = new Etcd3({ hosts: endpoints });
  const r = await load(N, async (i) => {
    await c.put(`/raw/k${i}`).value(JSON.stringify({ metadata: { name: `c${i}` }, data: { v: '0' } }));
  });
  c.close();
  return r.perSec;
}

const LIST_MB = Number(args[args.indexOf('--list-mb') + 1]) || 75;
const LISTERS = 10,
  LOAD_SECONDS = 20,
  OPEN_WATCHES = 1000;

const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/** One GET's time in ms on its own connection-reusing agent. */
function timed(base: Base, path: string, ag: Agent): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      base.server + path,
      { ca: base.ca, agent: ag, headers: { Authorization: `Bearer ${base.token}` } },
      (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve(performance.now() - t0));
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error(`${path}: no answer in 30 s`)));
    req.on('error', reject);
    req.end();
  });
}

async function underLoad() {
  const dir = tempDir('bench-load');
  const srv = await spawnServer(dir, await freePort());
  const pid = srv.proc.pid!;
  try {
    const base = credentials(srv.kubeconfig);
    const objects = Math.ceil((LIST_MB * 1024) / 64);
    const value = 'v'.repeat(64 * 1024 - 200);
    for (let n = 0; n < 10; n++) await call(base, 'POST', '/api/v1/namespaces', { metadata: { name: `fill${n}` } });
    const fill = await load(objects, async (i) => {
      const r = await call(base, 'POST', `/api/v1/namespaces/fill${i % 10}/configmaps`, {
        metadata: { name: `c${i}` },
        data: { v: value },
      });
      if (r.status !== 201) throw new Error(`create ${r.status}`);
    });
    await call(base, 'POST', '/api/v1/namespaces/default/configmaps', {
      metadata: { name: 'small' },
      data: { a: 'b' },
    });
    const ag = new Agent({ keepAlive: true, maxSockets: 2 });
    const idle: number[] = [];
    for (let i = 0; i < 50; i++) idle.push(await timed(base, '/readyz', ag));
    const until = Date.now() + LOAD_SECONDS * 1000;
    const worker = new Worker(new URL('./listers.ts', import.meta.url), {
      workerData: { ...base, clients: LISTERS, until, path: '/api/v1/configmaps' },
    });
    const listed = new Promise<{ lists: number; slowest: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    const ready: number[] = [],
      small: number[] = [];
    let peak = rssMiB(pid);
    while (Date.now() < until) {
      ready.push(await timed(base, '/readyz', ag));
      small.push(await timed(base, '/api/v1/namespaces/default/configmaps/small', ag));
      peak = Math.max(peak, rssMiB(pid));
      await new Promise((r) => setTimeout(r, 20));
    }
    const { lists, slowest } = await listed;
    await worker.terminate();
    console.log(
      `store ${LIST_MB} MiB (${objects} ConfigMaps of 64 KiB, filled at ${fill.perSec.toFixed(0)}/s) | ` +
        `idle /readyz p99 ${pct(idle, 99).toFixed(1)}ms`,
    );
    console.log(
      `${LISTERS} clients listing for ${LOAD_SECONDS} s ` +
        `(${lists} full lists, slowest ${(slowest / 1000).toFixed(1)} s): ` +
        `/readyz p50 ${pct(ready, 50).toFixed(1)}ms p99 ${pct(ready, 99).toFixed(1)}ms | ` +
        `small GET p50 ${pct(small, 50).toFixed(1)}ms p99 ${pct(small, 99).toFixed(1)}ms | ` +
        `server RSS peak ${peak.toFixed(0)} MiB`,
    );
    // 1,000 open watches (from the current resourceVersion, as informers hold them after a list).
    const rv = (await call(base, 'GET', '/api/v1/namespaces/default/configmaps?limit=1')).json.metadata.resourceVersion;
    const rss0 = rssMiB(pid);
    const wagent = new Agent({ keepAlive: false, maxSockets: Infinity });
    const reqs = await Promise.all(
      Array.from(
        { length: OPEN_WATCHES },
        () =>
          new Promise<{ destroy(): void }>((resolve, reject) => {
            const req = request(
              `${base.server}/api/v1/configmaps?watch=1&resourceVersion=${rv}&timeoutSeconds=600`,
              { ca: base.ca, agent: wagent, headers: { Authorization: `Bearer ${base.token}` } },
              (res) => {
                res.on('data', () => {});
                resolve(req);
              },
            );
            req.on('error', reject);
            req.end();
          }),
      ),
    );
    await call(base, 'PATCH', '/api/v1/namespaces/default/configmaps/small', { data: { a: 'c' } });
    await new Promise((r) => setTimeout(r, 2000));
    console.log(
      `${OPEN_WATCHES} open watches: server RSS ${rssMiB(pid).toFixed(0)} MiB (${rss0.toFixed(0)} MiB before) ` +
        `with the ${LIST_MB} MiB store`,
    );
    for (const r of reqs) r.destroy();
    wagent.destroy();
    ag.destroy();
  } finally {
    srv.proc.kill('SIGTERM');
    await srv.proc;
    rmSync(dir, { recursive: true, force: true });
  }
}

if (args.includes('--only-load')) {
  await underLoad();
  agent.destroy();
  process.exit(0);
}

console.log(
  `Skiff API benchmark: ${N} creates and ${N} updates by ${CONCURRENCY} concurrent clients; ${WATCHERS} ` +
    `watchers x ${EVENTS} events`,
);
const embedded = await runApi('embedded', []);
const etcd = await startEtcd(1);
try {
  const viaEtcd = await runApi('etcd', ['--datastore-endpoint', etcd.endpoints[0]]);
  const raw = await rawEtcdPuts(etcd.endpoints);
  console.log(`etcd3 client puts (same ${CONCURRENCY} concurrency, no API layer): ${raw.toFixed(0)}/s`);
  let perf = 'skipped';
  if (!args.includes('--skip-etcdctl')) {
    const r = await execa('etcdctl', ['--endpoints', etcd.endpoints[0], 'check', 'perf', '--load=s'], {
      reject: false,
      env: { ETCDCTL_API: '3' },
      all: true,
    });
    perf = (String(r.all).match(/Throughput is (\d+) writes\/s/) ?? [])[1] ?? 'n/a';
  }
  console.log(`etcdctl check perf (load s): ${perf} writes/s`);
  console.log(`ratio API creates on etcd / raw etcd3 puts: ${(viaEtcd.create.perSec / raw).toFixed(2)}`);
  if (perf !== 'skipped' && perf !== 'n/a')
    console.log(`ratio API creates on etcd / etcdctl check perf: ${(viaEtcd.create.perSec / Number(perf)).toFixed(2)}`);
  console.log(`ratio embedded / etcd creates: ${(embedded.create.perSec / viaEtcd.create.perSec).toFixed(2)}`);
} finally {
  await etcd.stop();
}
await underLoad();
agent.destroy();
