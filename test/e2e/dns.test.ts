// Cluster DNS end to end on a 3-node `skiff sandbox`, objects made with real kubectl: busybox
// nslookup from pods (short name, svc.ns, FQDN, headless with several endpoints, a StatefulSet
// pod's stable name, ExternalName to a name that dnsmasq serves on the sandbox's outside host),
// and dig from a node (SRV, PTR, NXDOMAIN vs NODATA with SOA, TCP, 100 endpoints truncated over
// UDP and whole over TCP, cache hits in /metrics, upstream down → SERVFAIL within the deadline),
// and a new Service answered on another node within a second of its creation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT } from '../helpers/server.ts';
import { e2eSandbox, sandboxClient, until } from '../helpers/sandbox.ts';
import { startDnsmasq, type Dnsmasq } from '../helpers/dns.ts';
import { loadState, restartAgent, type SandboxState } from '../../agent/sandbox/sandbox.ts';
import { STATE_ROOT } from '../../agent/sandbox/host.ts';

const NAME = e2eSandbox('dnse');
const NODE = join(ROOT, 'node_modules/.bin/node');
const { skiff, k, onNode, json, podIP } = sandboxClient(NAME);
let s: SandboxState;
let upstream: Dnsmasq | null = null;
let webIP = '';

const busybox = (name: string, node: string, labels: string) => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, labels: {${labels}}}
spec:
  nodeName: ${node}
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: skiff.local/busybox:1.36, command: [sleep, '3600']}]`;

const manifests = [
  busybox('client', 'node2', 'role: client'),
  busybox('web', 'node1', 'app: web'),
  busybox('hl-1', 'node1', 'app: hl'),
  busybox('hl-2', 'node2', 'app: hl'),
  busybox('hl-3', 'node3', 'app: hl'),
  `
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{name: http, port: 80, protocol: TCP}]}`,
  `
apiVersion: v1
kind: Service
metadata: {name: hl}
spec: {clusterIP: None, selector: {app: hl}, ports: [{name: http, port: 80}]}`,
  `
apiVersion: v1
kind: Service
metadata: {name: sts}
spec: {clusterIP: None, selector: {app: sts}, ports: [{name: http, port: 80}]}`,
  `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: sts}
spec:
  serviceName: sts
  replicas: 2
  selector: {matchLabels: {app: sts}}
  template:
    metadata: {labels: {app: sts}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: c, image: skiff.local/busybox:1.36, command: [sleep, '3600']}]`,
  `
apiVersion: v1
kind: Service
metadata: {name: ext}
spec: {type: ExternalName, externalName: ext.example}`,
  `
apiVersion: v1
kind: Service
metadata: {name: big}
spec: {clusterIP: None, ports: [{name: http, port: 80}]}`,
  `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: big-1, labels: {kubernetes.io/service-name: big}}
addressType: IPv4
ports: [{name: http, port: 80, protocol: TCP}]
endpoints:
${Array.from({ length: 100 }, (_, i) => `- addresses: ["10.244.200.${i + 1}"]`).join('\n')}`,
];

const dig = async (node: string, args: string[]) => {
  const r = await onNode(node, ['dig', '+time=5', '+tries=1', '@10.96.0.10', ...args]);
  return String(r.stdout);
};
/** nslookup from a pod until its output shows every one of `want`; the last output is in the error. */
const nslookup = (pod: string, name: string, want: string[]) =>
  until(`nslookup ${name} from ${pod} showing ${want.join(', ')}`, async () => {
    const x = await sh(pod, `nslookup -type=a ${name}`);
    if (!want.every((w) => x.out.includes(w))) throw new Error(`exit ${x.code}: ${x.out}`);
    return x.out;
  });
/**
 * busybox nslookup applies the search list only to names without a dot; names like `web.default`
 * go through the C library's resolver (search list, ndots:5), which ping prints before it pings.
 */
const viaLibc = (pod: string, name: string, ip: string) =>
  until(`${name} resolved by the pod's libc resolver to ${ip}`, async () => {
    const x = await sh(pod, `ping -c 1 -W 1 ${name}`);
    if (!x.out.includes(`PING ${name} (${ip})`)) throw new Error(x.out);
    return true;
  });
const sh = async (pod: string, cmd: string) => {
  const r = await k(['exec', pod, '--', 'sh', '-c', cmd]);
  return { code: r.exitCode, out: String(r.all) };
};

before(async () => {
  // No real resolver, ever: until dnsmasq is up, the agents' upstream is a closed loopback port.
  const up = await skiff([
    'sandbox',
    'up',
    '--name',
    NAME,
    '--nodes',
    '3',
    '--agent-arg=--dns-upstream=127.0.0.1:5300',
  ]);
  assert.equal(up.exitCode, 0, up.all);
  s = loadState(NAME)!;
  assert.ok(s.outside, 'the sandbox has an outside host');
  upstream = await startDnsmasq({
    host: s.outside.ip,
    port: 53,
    netns: s.outside.ns,
    records: ['ext.example,192.0.2.7', 'www.example,192.0.2.8'],
  });
  // Restart every agent with dnsmasq as its upstream (the agent restart path, too).
  s.agentArgs = [`--dns-upstream=${s.outside.ip}`];
  writeFileSync(join(STATE_ROOT, `${NAME}.json`), JSON.stringify(s, null, 2));
  for (const n of s.nodes) await restartAgent(NAME, n.name);
  for (const n of s.nodes)
    await until(`cluster DNS on ${n.name} forwarding to dnsmasq`, async () =>
      /192\.0\.2\.8/.test(await dig(n.name, ['+short', 'www.example'])),
    );
  const r = await k(['apply', '-f', '-'], manifests.join('\n---\n'));
  assert.equal(r.exitCode, 0, r.all);
  for (const p of ['client', 'web', 'hl-1', 'hl-2', 'hl-3', 'sts-0', 'sts-1']) await podIP(p);
  webIP = (await json(['get', 'svc', 'web'])).spec.clusterIP;
});

after(async () => {
  await upstream?.stop();
  await skiff(['sandbox', 'down', '--name', NAME]);
});

test('dns e2e: the kube-dns Service is there as on Kubernetes', async () => {
  const svc = await json(['get', 'svc', '-n', 'kube-system', 'kube-dns']);
  assert.equal(svc.spec.clusterIP, '10.96.0.10');
  assert.deepEqual(
    svc.spec.ports.map((p: { name: string; protocol: string; port: number }) => `${p.name}/${p.protocol}/${p.port}`),
    ['dns/UDP/53', 'dns-tcp/TCP/53'],
  );
});

test('dns e2e: nslookup from a pod: short name, svc.ns and FQDN', async () => {
  const resolv = await sh('client', 'cat /etc/resolv.conf');
  assert.match(resolv.out, /nameserver 10\.96\.0\.10/);
  assert.match(resolv.out, /search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local/);
  assert.match(resolv.out, /options ndots:5/);
  for (const name of ['web', 'web.default.svc.cluster.local']) {
    const out = await nslookup('client', name, [webIP]);
    assert.match(out, /Name:\s+web\.default\.svc\.cluster\.local/);
  }
  await viaLibc('client', 'web.default', webIP);
});

test('dns e2e: a headless Service answers every ready pod; a StatefulSet pod has its stable name', async () => {
  const ips = await Promise.all(['hl-1', 'hl-2', 'hl-3'].map((p) => podIP(p)));
  await nslookup('client', 'hl', ips);
  const sts0 = await podIP('sts-0');
  const slices = await k(['get', 'endpointslices', '-l', 'kubernetes.io/service-name=sts', '-o', 'yaml']);
  await nslookup('client', 'sts-0.sts.default.svc.cluster.local', [sts0]).catch((e) => {
    throw new Error(`${(e as Error).message}\nslices: ${slices.stdout}`);
  });
  await viaLibc('client', 'sts-0.sts', sts0);
});

test('dns e2e: ExternalName resolves through the upstream in the sandbox', async () => {
  const out = await nslookup('client', 'ext', ['192.0.2.7']);
  assert.match(out, /ext\.example/);
});

test('dns e2e: from a node with dig: SRV, PTR, NXDOMAIN and NODATA with the SOA, TCP', async () => {
  assert.match(
    await dig('node3', ['+short', 'SRV', '_http._tcp.web.default.svc.cluster.local']),
    /^0 100 80 web\.default\.svc\.cluster\.local\.$/m,
  );
  assert.match(await dig('node3', ['+short', '-x', webIP]), /^web\.default\.svc\.cluster\.local\.$/m);
  const nx = await dig('node3', ['nosuch.default.svc.cluster.local']);
  assert.match(nx, /status: NXDOMAIN/);
  assert.match(nx, /AUTHORITY: 1/);
  assert.match(nx, /cluster\.local\.\s+5\s+IN\s+SOA\s+ns\.dns\.cluster\.local\. hostmaster\.cluster\.local\./);
  const nodata = await dig('node3', ['AAAA', 'web.default.svc.cluster.local']);
  assert.match(nodata, /status: NOERROR/);
  assert.match(nodata, /ANSWER: 0, AUTHORITY: 1/);
  assert.match(
    await dig('node3', ['+tcp', '+short', 'web.default.svc.cluster.local']),
    new RegExp(`^${webIP.replace(/\./g, '\\.')}$`, 'm'),
  );
});

test('dns e2e: 100 endpoints are truncated over UDP and complete over TCP', async () => {
  const udp = await until('big over UDP', async () => {
    const out = await dig('node1', ['+ignore', '+noedns', 'big.default.svc.cluster.local']);
    return /flags: qr aa tc/.test(out) ? out : undefined;
  });
  assert.match(udp, /ANSWER: 0/);
  const tcp = await dig('node1', ['+tcp', '+short', 'big.default.svc.cluster.local']);
  assert.equal(tcp.trim().split('\n').length, 100);
  // dig falls back to TCP by itself on TC, as a stub resolver does.
  const auto = await dig('node1', ['+short', '+noedns', 'big.default.svc.cluster.local']);
  assert.equal(auto.trim().split('\n').length, 100);
});

test('dns e2e: outside names are cached: hits show in the agent metrics', async () => {
  await dig('node2', ['+short', 'ext.example']);
  await dig('node2', ['+short', 'ext.example']);
  const metrics = String((await onNode('node2', ['busybox', 'wget', '-qO-', 'http://127.0.0.1:10249/metrics'])).stdout);
  const hits = Number(metrics.match(/^skiff_dns_cache_hits_total (\d+)/m)?.[1] ?? 0);
  assert.ok(hits >= 1, `cache hits: ${metrics.slice(0, 2000)}`);
  assert.match(metrics, /skiff_dns_queries_total\{type="A",rcode="NOERROR"\} \d+/);
  assert.match(metrics, /skiff_dns_response_duration_seconds_bucket\{source="zone",le="0\.001"\} \d+/);
});

test('dns e2e: a Service created now resolves on another node within a second', async () => {
  const ns = s.nodes.find((n) => n.name === 'node3')!.ns;
  const waiter = execa(
    'nsenter',
    [
      `--net=/run/netns/${ns}`,
      NODE,
      join(ROOT, 'test/helpers/dns-wait.ts'),
      '10.96.0.10',
      'quick.default.svc.cluster.local',
      '120000',
    ],
    { reject: false },
  );
  // The waiter is polling (NXDOMAIN so far) before the Service exists.
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the waiter did not start')), 15_000);
    waiter.stderr?.on('data', (d) => {
      if (String(d).includes('polling')) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  const asked = Date.now();
  const r = await k(['create', 'service', 'clusterip', 'quick', '--tcp=80:80']);
  const created = Date.now();
  assert.equal(r.exitCode, 0, r.all);
  const w = await waiter;
  assert.equal(w.exitCode, 0, `quick never resolved on node3: ${w.stderr}`);
  const delay = Number(String(w.stdout).trim()) - created;
  // kubectl runs through `skiff sandbox kubectl` (a CLI start of its own): the answer can come before it returns.
  const sinceAsked = Number(String(w.stdout).trim()) - asked;
  console.log(
    `new Service answered on another node ${sinceAsked} ms after kubectl started, ${delay} ms after it returned`,
  );
  assert.ok(delay < 1000, `${delay} ms`);
});

test('dns e2e: upstream down gives SERVFAIL within the forwarding deadline', async () => {
  await upstream?.stop();
  upstream = null;
  const t0 = Date.now();
  const out = await dig('node1', ['gone.example']);
  const took = Date.now() - t0;
  assert.match(out, /status: SERVFAIL/);
  const qt = Number(out.match(/Query time: (\d+) msec/)?.[1]);
  assert.ok(
    qt >= 2000 && qt <= 3000,
    `SERVFAIL after the 2.5 s deadline, not a hang (query time ${qt} ms, ${took} ms with exec)`,
  );
});
