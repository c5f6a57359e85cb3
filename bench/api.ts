// API benchmark: create and update throughput and p50/p99 latency with 20 concurrent clients,
// and watch delivery latency to 100 watchers, on the embedded store and on a one-member etcd,
// printed beside etcdctl's own put throughput on the same etcd (`etcdctl check perf`, 60 s) and
// raw etcd3-client puts with the same concurrency, so the ratio shows what the API layer costs.
// Everything runs on 127.0.0.1. Usage: node bench/api.ts [--objects N] [--skip-etcdctl]
import { request } from 'node:https';
import { rmSync } from 'node:fs';
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
agent.destroy();
