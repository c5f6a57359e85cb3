// Runs inside a sandbox node's namespace (started by bench/pods.ts): watches pods of one
// label, then creates N pods at once through the API and prints, as JSON, each pod's time
// from its create request to the watch event that shows it Ready (milliseconds).
import { api } from '../test/helpers/http.ts';
import { credentials } from '../test/helpers/server.ts';
import { watchEvents } from './client.ts';
import type { Pod } from '../controlplane/shared/kube/index.ts';

const [kubeconfig, label, nodeList, count] = process.argv.slice(2);
const creds = credentials(kubeconfig);
const nodes = nodeList.split(',');
const n = Number(count);
const sent = new Map<string, number>();
const ready = new Map<string, number>();
let finish!: () => void;
const allReady = new Promise<void>((r) => {
  finish = r;
});

const path = `/api/v1/namespaces/default/pods?watch=1&labelSelector=bench%3D${label}`;
const stopWatch = watchEvents<Pod>(creds, path, (ev) => {
  if (ev.type === 'ERROR') return;
  const p = ev.object;
  const name = p.metadata.name;
  if (name && !ready.has(name) && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) {
    ready.set(name, performance.now());
    if (ready.size === n) finish();
  }
});
await new Promise((r) => setTimeout(r, 300));

await Promise.all(
  Array.from({ length: n }, async (_, i) => {
    const name = `${label}-${i}`;
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, labels: { bench: label } },
      spec: {
        nodeName: nodes[i % nodes.length],
        terminationGracePeriodSeconds: 0,
        containers: [
          { name: 'c', image: 'skiff.local/busybox:1.36', imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] },
        ],
      },
    };
    sent.set(name, performance.now());
    const r = await api(creds, 'POST', '/api/v1/namespaces/default/pods', JSON.stringify(pod));
    if (r.status !== 201) throw new Error(`create ${name}: ${r.status} ${r.body}`);
  }),
);
await Promise.race([allReady, new Promise((r) => setTimeout(r, 120_000))]);
stopWatch();
console.log(JSON.stringify([...ready].map(([name, t]) => t - sent.get(name)!)));
