// The service proxy end to end on a 3-node `skiff sandbox`, driven by real kubectl: a ClusterIP
// from a pod on node1 reaches endpoints on node2 and node3, a Service without endpoints refuses
// at once, NodePorts answer the outside host on every node, a LoadBalancer IP is announced and
// reachable from outside, a pod reaches an endpoint on its own node (bridged replies through
// br_netfilter) and itself through its Service (hairpin), pods reach the API
// through the `kubernetes` ClusterIP, the agent reports programming latency, and a TCP stream
// through a ClusterIP survives kill -9 and restart of the agent that DNATs it, UDP through a
// ClusterIP follows a backend replacement, and a LoadBalancer IP is reachable again within 10 s
// after the agent of the node announcing it is killed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { killAgent, loadState, restartAgent, startAgent, type SandboxState } from '../../agent/sandbox/sandbox.ts';
import { e2eSandbox, sandboxClient, until } from '../helpers/sandbox.ts';

const NAME = e2eSandbox('prx');
const { skiff, k, onNode, json, podIP } = sandboxClient(NAME);
let s: SandboxState;

/** A busybox httpd pod answering its own name, `APP-N`, labelled app: APP. */
const web = (n: number, node: string, app = 'web') => `
apiVersion: v1
kind: Pod
metadata: {name: ${app}-${n}, labels: {app: ${app}}}
spec:
  nodeName: ${node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: skiff.local/busybox:1.36
    command: [sh, -c, 'mkdir -p /www && echo ${app}-${n} > /www/index.html && exec httpd -f -vv -p 80 -h /www']
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
metadata: {name: web-local}
spec: {type: LoadBalancer, externalTrafficPolicy: Local, selector: {app: web}, ports: [{port: 80, nodePort: 30081}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-sticky}
spec: {selector: {app: web}, sessionAffinity: ClientIP, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-itp}
spec: {selector: {app: web}, internalTrafficPolicy: Local, ports: [{port: 80}]}
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
/** A command in one of the sandbox's namespaces, straight through nsenter (no CLI start-up in timed loops). */
const inNs = (ns: string, cmd: string[], timeout = 10_000) =>
  execa('nsenter', [`--net=/run/netns/${ns}`, ...cmd], { reject: false, timeout });
const nodeNs = (name: string) => s.nodes.find((n) => n.name === name)?.ns as string;

/** A GET from the sandbox's outside host, with a 5 s limit. */
const fromOutside = (url: string) =>
  onNode('outside', ['busybox', 'timeout', '5', 'busybox', 'wget', '-q', '-O', '-', url]);

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
  // Timed inside the pod (kubectl exec itself takes seconds on a busy machine): refused, not a timeout.
  const r0 = await until('the empty Service refused', async () => {
    const r = await sh(
      'client',
      `s=$(date +%s); timeout 5 wget -q -O - http://${ip}/ 2>&1; echo took=$(($(date +%s)-s))`,
    );
    return /refused/i.test(r.out) && r.out;
  });
  assert.ok(Number(r0.match(/took=(\d+)/)?.[1]) <= 2, r0);
  // An address in the service range that no Service holds is refused too.
  const r = await sh('client', 'timeout 5 wget -q -O - http://10.96.255.254/ 2>&1; echo rc=$?');
  assert.match(r.out, /refused/i);
});

test('UDP through a ClusterIP follows a backend replacement', async (t) => {
  // Two UDP servers answering with their node's name, on node2's and node3's own addresses
  // (busybox has no UDP server); a selector-less Service whose hand-written slice points at one.
  const [n2, n3] = [s.nodes[1], s.nodes[2]];
  const serverJs = (name: string, ip: string) =>
    `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send('${name}',r.port,r.address));` +
    `s.bind(5300,'${ip}')`;
  const servers = [n2, n3].map((n) =>
    execa('nsenter', [`--net=/run/netns/${n.ns}`, process.execPath, '-e', serverJs(n.name, n.ip)], { reject: false }),
  );
  let client: ReturnType<typeof execa> | undefined;
  t.after(async () => {
    for (const p of [...servers, client]) p?.kill('SIGKILL');
    await Promise.allSettled([...servers, client]);
  });
  const slice = (ip: string) => `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: udp-echo-1, labels: {kubernetes.io/service-name: udp-echo}}
addressType: IPv4
ports: [{port: 5300, protocol: UDP}]
endpoints: [{addresses: ["${ip}"], conditions: {ready: true}}]
`;
  const svc = `
apiVersion: v1
kind: Service
metadata: {name: udp-echo}
spec: {ports: [{port: 53, targetPort: 5300, protocol: UDP}]}
`;
  assert.equal((await k(['apply', '-f', '-'], `${svc}\n---\n${slice(n2.ip)}`)).exitCode, 0);
  const ip = await clusterIP('udp-echo');
  // One client socket (one conntrack entry) on node1, sending every 200 ms: without the stale
  // entry deleted, its datagrams would keep going to the old backend.
  const clientJs =
    `const s=require('dgram').createSocket('udp4');s.on('message',m=>console.log(String(m)));` +
    `s.bind(40053,()=>setInterval(()=>s.send('who',53,'${ip}'),200));setTimeout(()=>process.exit(),120000)`;
  client = execa('nsenter', [`--net=/run/netns/${nodeNs('node1')}`, process.execPath, '-e', clientJs], {
    reject: false,
  });
  let out = '';
  client.stdout?.on('data', (d) => {
    out += String(d);
  });
  await until('answers from the first backend', async () => out.includes(n2.name), 60_000);
  assert.equal((await k(['apply', '-f', '-'], slice(n3.ip))).exitCode, 0);
  const mark = out.length;
  await until(
    'the same client socket answered by the replacement',
    async () => out.slice(mark).includes(n3.name),
    30_000,
  );
  const last = out.trim().split('\n').at(-1);
  assert.equal(last, n3.name, out.slice(mark));
});

test('a NodePort answers the outside host on every node', async () => {
  for (const n of s.nodes) {
    const body = await until(`NodePort via ${n.name}`, async () => {
      const r = await fromOutside(`http://${n.ip}:30080/`);
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
    const r = await fromOutside(`http://${lbIP}:8080/`);
    return r.exitCode === 0 && String(r.stdout).trim();
  });
  assert.match(body, /^web-[23]$/);
});

test(
  'externalTrafficPolicy Local: the client address is kept, ' + 'and the health check says 503 where no endpoint is',
  async () => {
    const svc = await json(['get', 'svc', 'web-local']);
    const hc = svc.spec.healthCheckNodePort as number;
    assert.ok(hc > 0, 'a healthCheckNodePort was allocated');
    const node = (name: string) => s.nodes.find((n) => n.name === name)?.ip as string;
    // Raw HTTP through nc: busybox wget shows no body for a 503.
    const health = async (name: string) => {
      const r = await onNode('outside', [
        'sh',
        '-c',
        `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox timeout 5 busybox nc ${node(name)} ${hc}`,
      ]);
      return String(r.stdout);
    };
    const ok = await until('health check 200 on node2', async () => {
      const t = await health('node2');
      return /200 OK/.test(t) && t;
    });
    assert.match(ok, /"localEndpoints":1/);
    const none = await until('health check 503 on node1', async () => {
      const t = await health('node1');
      return /503/.test(t) && t;
    });
    assert.match(none, /"localEndpoints":0/);
    assert.match(none, /"serviceProxyHealthy":true/);
    // Through node2 the request reaches web-2 (the local endpoint) and web-2 sees the outside host's address.
    const body = await until('NodePort 30081 via node2', async () => {
      const r = await fromOutside(`http://${node('node2')}:30081/`);
      return r.exitCode === 0 && String(r.stdout).trim();
    });
    assert.equal(body, 'web-2');
    const logs = String((await k(['logs', 'web-2'])).stdout);
    assert.ok(logs.includes(`${s.outside?.ip}`), `web-2 saw the client address: ${logs.slice(-400)}`);
    // node1 has no endpoint: dropped there.
    const r = await onNode('outside', [
      'busybox',
      'timeout',
      '3',
      'busybox',
      'wget',
      '-q',
      '-O',
      '-',
      `http://${node('node1')}:30081/`,
    ]);
    assert.notEqual(r.exitCode, 0);
  },
);

test('sessionAffinity ClientIP keeps a client on one endpoint', async () => {
  const ip = await clusterIP('web-sticky');
  const first = await until('the sticky Service', async () => {
    const r = await sh('client', `timeout 5 wget -q -O - http://${ip}/`);
    return r.code === 0 && r.out.trim();
  });
  for (let i = 0; i < 8; i++)
    assert.equal((await sh('client', `timeout 5 wget -q -O - http://${ip}/`)).out.trim(), first);
});

test('internalTrafficPolicy Local: only the endpoint on the same node, none where there is none', async () => {
  const ip = await clusterIP('web-itp');
  for (let i = 0; i < 6; i++) {
    const r = await until('web-itp from web-3', async () => {
      const x = await sh('web-3', `timeout 5 wget -q -O - http://${ip}/`);
      return x.code === 0 && x.out.trim();
    });
    assert.equal(r, 'web-3');
  }
  const fromNode1 = await sh('client', `timeout 3 wget -q -O - http://${ip}/ 2>&1; echo rc=$?`);
  assert.doesNotMatch(fromNode1.out, /web-/);
});

test('a pod reaches an endpoint on its own node through a ClusterIP, also after bridge-nf-call was off', async () => {
  // The endpoint's reply crosses node1's bridge at layer 2; only br_netfilter lets conntrack undo
  // the DNAT on it. A host where the module is not loaded has the setting missing or 0: the
  // agent's resync must put it back (seen failing without: the client never got an answer).
  const near = `${web(1, 'node1', 'near')}
---
apiVersion: v1
kind: Service
metadata: {name: near}
spec: {selector: {app: near}, ports: [{port: 80}]}
`;
  assert.equal((await k(['apply', '-f', '-'], near)).exitCode, 0);
  await podIP('near-1');
  const ip = await clusterIP('near');
  const fetch = async () => {
    const r = await sh('client', `timeout 3 wget -q -O - http://${ip}/`);
    return r.code === 0 && r.out.trim() === 'near-1';
  };
  await until('near through its ClusterIP from node1', fetch);
  const key = 'net.bridge.bridge-nf-call-iptables';
  const off = await inNs(nodeNs('node1'), ['sysctl', '-w', `${key}=0`]);
  assert.equal(off.exitCode, 0, String(off.stderr));
  await until('the setting put back and near reachable again', fetch, 75_000);
  const now = await inNs(nodeNs('node1'), ['sysctl', '-n', key]);
  assert.equal(String(now.stdout).trim(), '1');
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
  // The API server answers (busybox's TLS client may not share a cipher with it: then the
  // handshake alert itself comes from the API server, the only TLS server behind that address).
  assert.match(r.out, /gitVersion|HTTP\/1\.1 40[13]|TLS error from peer/, r.out);
  assert.doesNotMatch(r.out, /refused|timed out|No route/i, r.out);
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
    command:
    - sh
    - -c
    - while true; do (for i in $(seq 1 90); do echo line-$i; sleep 1; done; sleep 2) | nc -l -p 9000; done
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
    # busybox nc closes on EOF of its stdin: a FIFO held open for writing never gives one.
    command:
    - sh
    - -c
    - >-
      mkfifo /tmp/f; exec 3<>/tmp/f; until nc ${ip} 9000 <&3 > /tmp/out; do sleep 1; done;
      echo lines=$(wc -l < /tmp/out) last=$(tail -n 1 /tmp/out)
`;
  assert.equal((await k(['apply', '-f', '-'], reader)).exitCode, 0);
  // The stream is flowing once node1's conntrack holds the established, DNATed connection.
  const established = async () => {
    const r = await onNode('node1', ['conntrack', '-L', '-p', 'tcp', '--orig-dst', ip, '--state', 'ESTABLISHED']);
    return /dport=9000/.test(String(r.stdout));
  };
  try {
    await until('the stream established through the ClusterIP', established, 80_000);
  } catch (e) {
    const pods = String((await k(['get', 'pods', '-o', 'wide'])).all);
    const logs = String((await k(['logs', 'stream-client'])).all);
    const ct = String((await onNode('node1', ['conntrack', '-L', '-p', 'tcp'])).all);
    throw new Error(`${(e as Error).message}\n${pods}\nclient log: ${logs}\nconntrack: ${ct.slice(0, 2000)}`);
  }
  await restartAgent(NAME, 'node1', 'SIGKILL');
  const done = await until(
    'the stream client to finish',
    async () => {
      const p = await json(['get', 'pod', 'stream-client']);
      return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed' ? p.status.phase : undefined;
    },
    240_000,
  );
  const logs = String((await k(['logs', 'stream-client'])).stdout);
  assert.equal(done, 'Succeeded', logs);
  assert.match(logs, /lines=90 last=line-90/);
});

test('a LoadBalancer IP is reachable again within 10 s after the announcing node is lost', async (t) => {
  const lbIP = await until('an LB address', async () => {
    const svc = await json(['get', 'svc', 'web-lb']);
    return svc.status?.loadBalancer?.ingress?.[0]?.ip as string | undefined;
  });
  const outside = s.outside?.ns as string;
  await inNs(outside, ['ip', 'route', 'replace', `${lbIP.replace(/\.\d+$/, '.0')}/24`, 'dev', 'eth0']);
  const holders = async () => {
    const h: string[] = [];
    for (const n of s.nodes) {
      const r = await inNs(n.ns, ['ip', '-br', 'addr', 'show', 'dev', 'eth0']);
      if (String(r.stdout).includes(`${lbIP}/32`)) h.push(n.name);
    }
    return h;
  };
  const get = async () => {
    const r = await inNs(outside, [
      'busybox',
      'timeout',
      '2',
      'busybox',
      'wget',
      '-q',
      '-O',
      '-',
      `http://${lbIP}:8080/`,
    ]);
    return r.exitCode === 0 && /^web-[23]$/.test(String(r.stdout).trim());
  };
  const [holder] = await until('one node holding the LB IP', async () => {
    const h = await holders();
    return h.length === 1 && h;
  });
  await until('the LB IP from outside', get);
  const dead = s.nodes.find((n) => n.name === holder) as (typeof s.nodes)[number];
  // The node is lost: its agent killed, and (as a dead node would) it neither answers ARP for the
  // address nor takes traffic for it; its table would otherwise still DNAT it.
  t.after(async () => {
    await inNs(dead.ns, ['nft', 'delete', 'table', 'ip', 'prx-test-dead']);
    startAgent(NAME, holder);
  });
  killAgent(NAME, holder);
  const killed = Date.now();
  await inNs(dead.ns, ['ip', 'addr', 'del', `${lbIP}/32`, 'dev', 'eth0']);
  const drop = [
    'table ip prx-test-dead {',
    ' chain pre {',
    '  type filter hook prerouting priority -300; policy accept;',
    `  ip daddr ${lbIP} drop`,
    ' }',
    '}',
    '',
  ].join('\n');
  const nft = await execa('nsenter', [`--net=/run/netns/${dead.ns}`, 'nft', '-f', '-'], { input: drop, reject: false });
  assert.equal(nft.exitCode, 0, String(nft.stderr));
  const moved = await until(
    'another node announcing the LB IP, reached from outside',
    async () => {
      const h = await holders();
      return h.length === 1 && h[0] !== holder && (await get()) && h[0];
    },
    30_000,
  );
  const took = Date.now() - killed;
  assert.ok(took <= 10_000, `the LB IP moved from ${holder} to ${moved} only after ${took} ms`);
});
