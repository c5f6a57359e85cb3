// The service proxy end to end on a 3-node `skiff sandbox`, driven by real kubectl: a ClusterIP
// from a pod on node1 reaches endpoints on node2 and node3, a Service without endpoints refuses
// at once, NodePorts answer the outside host on every node, a LoadBalancer IP is announced and
// reachable from outside, a pod reaches itself through its Service (hairpin), pods reach the API
// through the `kubernetes` ClusterIP, the agent reports programming latency, and a TCP stream
// through a ClusterIP survives kill -9 and restart of the agent that DNATs it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadState, restartAgent, type SandboxState } from '../../agent/sandbox/sandbox.ts';
import { sandboxClient, until } from '../helpers/sandbox.ts';

const NAME = 'prx';
const { skiff, k, onNode, json, podIP } = sandboxClient(NAME);
let s: SandboxState;

const web = (n: number, node: string) => `
apiVersion: v1
kind: Pod
metadata: {name: web-${n}, labels: {app: web}}
spec:
  nodeName: ${node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: skiff.local/busybox:1.36
    command: [sh, -c, 'mkdir -p /www && echo web-${n} > /www/index.html && exec httpd -f -p 80 -h /www']
`;
const services = `
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-np}
spec: {type: NodePort, selector: {app: web}, ports: [{port: 80, nodePort: 30080}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-lb}
spec: {type: LoadBalancer, selector: {app: web}, ports: [{port: 8080, targetPort: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec: {selector: {app: nothing}, ports: [{port: 80}]}
`;

const sh = async (pod: string, cmd: string) => {
  const r = await k(['exec', pod, '--', 'sh', '-c', cmd]);
  return { code: r.exitCode, out: String(r.all) };
};
const clusterIP = async (svc: string) => (await json(['get', 'svc', svc])).spec.clusterIP as string;

before(async () => {
  const up = await skiff(['sandbox', 'up', '--name', NAME, '--nodes', '3']);
  assert.equal(up.exitCode, 0, up.all);
  s = loadState(NAME) as SandboxState;
  const client = `
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  nodeName: node1
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: skiff.local/busybox:1.36, command: [sleep, "3600"]}]
`;
  const r = await k(['apply', '-f', '-'], [web(2, 'node2'), web(3, 'node3'), client, services].join('\n---\n'));
  assert.equal(r.exitCode, 0, r.all);
  for (const p of ['web-2', 'web-3', 'client']) await podIP(p);
});
after(async () => {
  await skiff(['sandbox', 'down', '--name', NAME]);
});

test('a ClusterIP from a pod on node1 reaches the endpoints on node2 and node3', async () => {
  const ip = await clusterIP('web');
  const seen = new Set<string>();
  await until(
    'both endpoints answering through the ClusterIP',
    async () => {
      for (let i = 0; i < 20 && seen.size < 2; i++) {
        const r = await sh('client', `timeout 5 wget -q -O - http://${ip}/`);
        if (r.code === 0) seen.add(r.out.trim());
      }
      return seen.size === 2;
    },
    60_000,
  );
  assert.deepEqual([...seen].sort(), ['web-2', 'web-3']);
});

test('a Service with no endpoints refuses at once', async () => {
  const ip = await clusterIP('empty');
  await until('the empty Service programmed', async () => {
    const t0 = Date.now();
    const r = await sh('client', `timeout 5 wget -q -O - http://${ip}/ 2>&1; echo rc=$?`);
    return /refused/i.test(r.out) && Date.now() - t0 < 4000;
  });
  // An address in the service range that no Service holds is refused too.
  const r = await sh('client', 'timeout 5 wget -q -O - http://10.96.255.254/ 2>&1; echo rc=$?');
  assert.match(r.out, /refused/i);
});

test('a NodePort answers the outside host on every node', async () => {
  for (const n of s.nodes) {
    const body = await until(`NodePort via ${n.name}`, async () => {
      const r = await onNode('outside', [
        'busybox',
        'timeout',
        '5',
        'busybox',
        'wget',
        '-q',
        '-O',
        '-',
        `http://${n.ip}:30080/`,
      ]);
      return r.exitCode === 0 && String(r.stdout).trim();
    });
    assert.match(body, /^web-[23]$/);
  }
});

test('a LoadBalancer IP is announced by one node and reachable from outside', async () => {
  const lbIP = await until('an LB address', async () => {
    const svc = await json(['get', 'svc', 'web-lb']);
    return svc.status?.loadBalancer?.ingress?.[0]?.ip as string | undefined;
  });
  // The pool is not on the underlay subnet: the outside host reaches it on-link, by ARP.
  await onNode('outside', ['ip', 'route', 'replace', `${lbIP.replace(/\.\d+$/, '.0')}/24`, 'dev', 'eth0']);
  const holders = await until('one node holding the LB IP', async () => {
    const h: string[] = [];
    for (const n of s.nodes) {
      const r = await onNode(n.name, ['ip', '-br', 'addr', 'show', 'dev', 'eth0']);
      if (String(r.stdout).includes(`${lbIP}/32`)) h.push(n.name);
    }
    return h.length === 1 && h;
  });
  assert.equal(holders.length, 1);
  const body = await until('the LB IP from outside', async () => {
    const r = await onNode('outside', [
      'busybox',
      'timeout',
      '5',
      'busybox',
      'wget',
      '-q',
      '-O',
      '-',
      `http://${lbIP}:8080/`,
    ]);
    return r.exitCode === 0 && String(r.stdout).trim();
  });
  assert.match(body, /^web-[23]$/);
});

test('a pod reaches itself through its Service (hairpin)', async () => {
  const ip = await clusterIP('web');
  const answers: string[] = [];
  for (let i = 0; i < 16 && !answers.includes('web-2'); i++) {
    const r = await sh('web-2', `timeout 5 wget -q -O - http://${ip}/`);
    assert.equal(r.code, 0, r.out);
    answers.push(r.out.trim());
  }
  assert.ok(answers.includes('web-2'), `web-2 never reached itself: ${answers}`);
});

test('pods reach the API server through the kubernetes ClusterIP', async () => {
  const r = await sh(
    'client',
    'timeout 10 wget --no-check-certificate -q -O - https://10.96.0.1/version 2>&1; echo rc=$?',
  );
  // Anonymous requests may be refused by the API, but only after TLS: the answer is the API's.
  assert.match(r.out, /gitVersion|HTTP\/1\.1 40[13]/, r.out);
});

test('the agent reports network programming latency and sync duration', async () => {
  const text = await until('metrics with programming latency samples', async () => {
    const r = await onNode('node1', ['busybox', 'wget', '-q', '-O', '-', 'http://127.0.0.1:10249/metrics']);
    const t = String(r.stdout);
    const m = t.match(/^skiff_proxy_network_programming_duration_seconds_count (\d+)/m);
    return m && Number(m[1]) > 0 ? t : undefined;
  });
  assert.match(text, /^skiff_proxy_sync_duration_seconds_count [1-9]/m);
  assert.match(text, /^skiff_proxy_services [1-9]/m);
});

test('a TCP stream through a ClusterIP survives kill -9 and restart of the agent', async () => {
  const streamSvc = `
apiVersion: v1
kind: Service
metadata: {name: stream}
spec: {selector: {app: stream}, ports: [{port: 9000}]}
---
apiVersion: v1
kind: Pod
metadata: {name: stream-server, labels: {app: stream}}
spec:
  nodeName: node2
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: skiff.local/busybox:1.36
    command: [sh, -c, 'while true; do (for i in $(seq 1 25); do echo line-$i; sleep 1; done) | nc -l -p 9000; done']
`;
  assert.equal((await k(['apply', '-f', '-'], streamSvc)).exitCode, 0);
  await podIP('stream-server');
  const ip = await clusterIP('stream');
  // The client runs as its own pod (an exec session would go through the agent being killed).
  const reader = `
apiVersion: v1
kind: Pod
metadata: {name: stream-client}
spec:
  nodeName: node1
  restartPolicy: Never
  containers:
  - name: c
    image: skiff.local/busybox:1.36
    command: [sh, -c, 'until nc ${ip} 9000 > /tmp/out; do sleep 1; done; echo lines=$(wc -l < /tmp/out) last=$(tail -n 1 /tmp/out)']
`;
  assert.equal((await k(['apply', '-f', '-'], reader)).exitCode, 0);
  await podIP('stream-client');
  await new Promise((r) => setTimeout(r, 6000)); // the stream is flowing
  await restartAgent(NAME, 'node1', 'SIGKILL');
  const done = await until(
    'the stream client to finish',
    async () => {
      const p = await json(['get', 'pod', 'stream-client']);
      return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed' ? p.status.phase : undefined;
    },
    90_000,
  );
  const logs = String((await k(['logs', 'stream-client'])).stdout);
  assert.equal(done, 'Succeeded', logs);
  assert.match(logs, /lines=25 last=line-25/);
});
