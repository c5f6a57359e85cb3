// Scheduler throughput: 3000 pods over 100 nodes registered as API objects with fake capacity
// (no kubelets), pods bound per second from the first create to the last binding seen on a
// watch, against the upstream scheduler_perf threshold of 100 pods/s; then the server's CPU
// time and RSS while it holds 10,000 pods and 1,000 Services (with their EndpointSlices).
// The server runs as a child process on 127.0.0.1. Usage: node bench/scheduler.ts [--pods N] [--nodes N]
import { readFileSync, rmSync } from 'node:fs';
import { procStat } from '../agent/host/proc-stat.ts';
import { credentials, spawnServer, tempDir } from '../test/helpers/server.ts';
import { freePort } from '../test/helpers/etcd.ts';
import { call, watchEvents, type Base } from './client.ts';
import type { Pod, Stored } from '../controlplane/shared/kube/index.ts';

const args = process.argv.slice(2);
const PODS = Number(args[args.indexOf('--pods') + 1]) || 3000;
const NODES = Number(args[args.indexOf('--nodes') + 1]) || 100;
const TOTAL_PODS = 10_000,
  SERVICES = 1000,
  CONCURRENCY = 32;

async function pool(n: number, op: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) await op(next++);
    }),
  );
}

const usage = (pid: number) => {
  const st = procStat(pid);
  if (!st) throw new Error(`process ${pid} is gone`);
  const rss = Number((readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/) ?? [])[1] ?? 0) / 1024;
  return { cpuSec: st.cpuSeconds, rssMiB: rss };
};

function watchBindings(base: Base, onBound: () => void): () => void {
  const seen = new Set<string>();
  return watchEvents<Stored<Pod>>(base, '/api/v1/namespaces/bench/pods?watch=1&resourceVersion=0', (ev) => {
    if (ev.type === 'ERROR' || ev.type === 'BOOKMARK') return;
    const p = ev.object;
    if (p.spec?.nodeName && !seen.has(p.metadata.name)) {
      seen.add(p.metadata.name);
      onBound();
    }
  });
}

const dir = tempDir('bench-sched');
const port = await freePort();
const srv = await spawnServer(dir, port, ['--agent-port', '0', '--node-monitor-grace-period', '86400']);
try {
  const base = credentials(srv.kubeconfig);
  const pid = srv.proc.pid!;
  await call(base, 'POST', '/api/v1/namespaces', { metadata: { name: 'bench' } });
  await pool(NODES, async (i) => {
    const name = `fake-${String(i).padStart(3, '0')}`;
    const r = await call(base, 'POST', '/api/v1/nodes', {
      metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    });
    if (r.status !== 201) throw new Error(`node: ${r.status}`);
    const st = await call(base, 'PATCH', `/api/v1/nodes/${name}/status`, {
      status: {
        capacity: { cpu: '32', memory: '128Gi', pods: '110' },
        allocatable: { cpu: '32', memory: '128Gi', pods: '110' },
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'KubeletReady',
            lastHeartbeatTime: new Date().toISOString(),
            lastTransitionTime: new Date().toISOString(),
          },
        ],
      },
    });
    if (st.status !== 200) throw new Error(`node status: ${st.status} ${JSON.stringify(st.json)}`);
  });
  // Pods owned by 30 "ReplicaSets" worth of owners, so spreading has work to do.
  let bound = 0,
    lastBound = 0;
  const stop = watchBindings(base, () => {
    bound++;
    lastBound = performance.now();
  });
  await new Promise((r) => setTimeout(r, 500));
  const before = usage(pid);
  const t0 = performance.now();
  await pool(PODS, async (i) => {
    const r = await call(base, 'POST', '/api/v1/namespaces/bench/pods', {
      metadata: {
        name: `p-${i}`,
        labels: { app: `a${i % 30}` },
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `a${i % 30}`, uid: `owner-${i % 30}`, controller: true },
        ],
      },
      spec: {
        containers: [
          { name: 'c', image: 'skiff.local/busybox:1.36', resources: { requests: { cpu: '100m', memory: '64Mi' } } },
        ],
      },
    });
    if (r.status !== 201) throw new Error(`pod: ${r.status}`);
  });
  const created = performance.now();
  const deadline = Date.now() + 300_000;
  while (bound < PODS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  stop();
  const secs = (lastBound - t0) / 1000;
  const after = usage(pid);
  console.log(
    `Scheduler: ${bound}/${PODS} pods bound over ${NODES} nodes in ${secs.toFixed(2)} s (creates ` +
      `took ${((created - t0) / 1000).toFixed(2)} s)`,
  );
  console.log(
    `  throughput ${(bound / secs).toFixed(0)} pods/s | upstream scheduler_perf threshold 100 ` +
      `pods/s: ${bound / secs >= 100 ? 'met' : 'missed'} (${(bound / secs / 100).toFixed(1)}x)`,
  );
  console.log(
    `  server CPU during the run ${(after.cpuSec - before.cpuSec).toFixed(1)} s, RSS ${after.rssMiB.toFixed(0)} MiB`,
  );

  // Scale: 10k pods and 1k Services with selectors over them.
  await pool(TOTAL_PODS - PODS, async (i) => {
    await call(base, 'POST', '/api/v1/namespaces/bench/pods', {
      metadata: { name: `q-${i}`, labels: { app: `a${i % SERVICES}` } },
      spec: { containers: [{ name: 'c', image: 'skiff.local/busybox:1.36' }] },
    });
  });
  await pool(SERVICES, async (i) => {
    await call(base, 'POST', '/api/v1/namespaces/bench/services', {
      metadata: { name: `s-${i}` },
      spec: { selector: { app: `a${i}` }, ports: [{ port: 80 }] },
    });
  });
  await new Promise((r) => setTimeout(r, 10_000));
  const idle1 = usage(pid);
  await new Promise((r) => setTimeout(r, 10_000));
  const idle2 = usage(pid);
  const slices = (await call(base, 'GET', '/apis/discovery.k8s.io/v1/namespaces/bench/endpointslices?limit=1')).json;
  console.log(
    `With ${TOTAL_PODS} pods and ${SERVICES} Services ` +
      `(${slices.metadata?.remainingItemCount !== undefined ? slices.metadata.remainingItemCount + 1 : '?'} ` +
      `EndpointSlices): server RSS ${idle2.rssMiB.toFixed(0)} MiB, CPU at ` +
      `rest ${(((idle2.cpuSec - idle1.cpuSec) / 10) * 100).toFixed(1)}% of a core`,
  );
} finally {
  srv.proc.kill('SIGTERM');
  await srv.proc;
  rmSync(dir, { recursive: true, force: true });
}
