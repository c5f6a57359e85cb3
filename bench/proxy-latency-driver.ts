// Runs inside a sandbox node's namespace (started by bench/proxy-latency.ts), so no request leaves
// the sandbox. `setup N`: N selector-less Services `plat-I` with a hand-written EndpointSlice of
// 5 endpoints each. `change N COUNT SPACING_MS`: COUNT endpoint changes, one every SPACING_MS,
// round robin over the Services: each moves one endpoint to another address and stamps the
// slice's last-change-trigger-time with the moment its request is sent. Prints, as JSON, each
// change's trigger time and how long the API took to answer it.
import type { EndpointSlice, Service } from '../controlplane/shared/kube/index.ts';
import { credentials } from '../test/helpers/server.ts';
import { TRIGGER_TIME } from '../agent/proxy/programming.ts';
import { call } from './client.ts';

const [kubeconfig, mode, count, changes, spacing] = process.argv.slice(2);
const base = credentials(kubeconfig);
const N = Number(count);
const EPS = 5;
const NS = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices';
/** Endpoint j of Service i, in one of two places (`flip` 0 or 1), outside every node's pod CIDR. */
const ip = (i: number, j: number, flip: number) => `10.244.${50 + flip}.${i * EPS + j + 2}`;
const endpoints = (i: number, flips: number[]): EndpointSlice['endpoints'] =>
  flips.map((f, j) => ({ addresses: [ip(i, j, f)], conditions: { ready: true, serving: true, terminating: false } }));

async function ok(what: string, p: Promise<{ status: number; json: unknown }>) {
  const r = await p;
  if (r.status >= 300) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.json)}`);
}

if (mode === 'setup') {
  for (let i = 0; i < N; i++) {
    const name = `plat-${i}`;
    const svc: Service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: 'default' },
      spec: { ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }] },
    };
    await ok(`create Service ${name}`, call(base, 'POST', '/api/v1/namespaces/default/services', svc));
    const slice: EndpointSlice = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: `${name}-x`,
        namespace: 'default',
        labels: { 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': 'skiff-bench' },
      },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: endpoints(i, Array(EPS).fill(0)),
    };
    await ok(`create EndpointSlice ${name}-x`, call(base, 'POST', NS, slice));
  }
} else if (mode === 'change') {
  const flips = Array.from({ length: N }, () => Array(EPS).fill(0) as number[]);
  const out: { slice: string; trigger: string; apiMs: number }[] = [];
  const start = Date.now();
  for (let c = 0; c < Number(changes); c++) {
    const wait = start + c * Number(spacing) - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const i = c % N;
    const j = Math.floor(c / N) % EPS;
    flips[i][j] ^= 1;
    const trigger = new Date().toISOString();
    const t = performance.now();
    const patch = { metadata: { annotations: { [TRIGGER_TIME]: trigger } }, endpoints: endpoints(i, flips[i]) };
    await ok(`change ${c}`, call(base, 'PATCH', `${NS}/plat-${i}-x`, patch));
    out.push({ slice: `default/plat-${i}-x`, trigger, apiMs: performance.now() - t });
  }
  console.log(JSON.stringify(out));
} else throw new Error(`unknown mode ${mode}`);
// The keep-alive sockets would hold the process open.
process.exit(0);
