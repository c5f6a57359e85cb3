// The proxy's rendered ruleset: nft accepts it (`nft -c`, checked by the kernel without
// committing, in a throwaway network namespace) and synthetic packets traced through the rules
// data end where Kubernetes says they should.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import type { EndpointSlice, Service } from '../../controlplane/shared/kube/index.ts';
import { hairpinPairs, renderRuleset, type ProxyNodeFacts } from '../../agent/proxy/render.ts';
import { fullScript } from '../../agent/proxy/nft-text.ts';
import { MAX_NAME } from '../../agent/proxy/names.ts';
import {
  DEFAULT_SHARDS,
  MASQ_MARK,
  SHARD_MARK_MASK,
  mergeFragments,
  shardOf,
  shardTable,
  type Fragment,
  type Tables,
} from '../../agent/proxy/model.ts';
import { trace, type Packet } from '../helpers/nft-trace.ts';

const node = (name: string, ip: string, podCIDR: string): ProxyNodeFacts => ({
  nodeName: name,
  nodeIPs: [ip],
  podCIDR,
  clusterCIDR: '10.244.0.0/16',
  serviceCIDR: '10.96.0.0/12',
  clusterDNS: '10.96.0.10',
});
const n1 = node('n1', '192.168.50.11', '10.244.1.0/24');
const n2 = node('n2', '192.168.50.12', '10.244.2.0/24');
// The local addresses of a node as fib sees them: its underlay IP and its bridge address.
const localOf = (f: ProxyNodeFacts) => [...f.nodeIPs, f.podCIDR.replace(/0\/24$/, '1'), '127.0.0.0/8'];

type Spec = Service['spec'];
const svc = (name: string, spec: Spec, lbIP?: string): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { namespace: 'default', name },
  spec,
  status: lbIP ? { loadBalancer: { ingress: [{ ip: lbIP }] } } : {},
});
type Ep = { ip: string; node: string; ready?: boolean; serving?: boolean; terminating?: boolean };
const slice = (svcName: string, ports: EndpointSlice['ports'], eps: Ep[], suffix = 'a'): EndpointSlice => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { namespace: 'default', name: `${svcName}-${suffix}`, labels: { 'kubernetes.io/service-name': svcName } },
  addressType: 'IPv4',
  ports,
  endpoints: eps.map((e) => ({
    addresses: [e.ip],
    nodeName: e.node,
    conditions: { ready: e.ready ?? true, serving: e.serving ?? e.ready ?? true, terminating: e.terminating ?? false },
  })),
});
const http = [{ name: 'http', port: 8080, protocol: 'TCP' as const }];
const webEps: Ep[] = [
  { ip: '10.244.1.5', node: 'n1' },
  { ip: '10.244.2.7', node: 'n2' },
];

function world(services: Service[], slices: EndpointSlice[], facts = n1, shards?: number): Tables {
  return renderRuleset({ services, slices }, facts, shards);
}
/** All tables' content together (for looking at names, not for tracing). */
const all = (t: Tables): Fragment => mergeFragments(t.values());
/** Every endpoint a new connection can end on, over all numgen choices. */
function reachable(rules: Tables, pkt: Packet, facts = n1): string[] {
  const seen = new Set<string>();
  for (let i = 0; i < 8; i++) {
    const t = trace(rules, pkt, { local: localOf(facts), pick: (n) => i % n });
    seen.add(t.dnat ? `${t.dnat.ip}:${t.dnat.port}` : t.verdict);
  }
  return [...seen].sort();
}

const fromPod = (dst: string, dport: number, src = '10.244.1.9', proto: Packet['proto'] = 'tcp'): Packet => ({
  src,
  dst,
  dport,
  proto,
  origin: 'pod',
});
const fromOutside = (dst: string, dport: number, src = '192.168.50.1'): Packet => ({
  src,
  dst,
  dport,
  proto: 'tcp',
  origin: 'outside',
});

const web = svc('web', {
  type: 'ClusterIP',
  clusterIP: '10.96.0.20',
  ports: [{ name: 'http', port: 80, targetPort: 'http' }],
});
const webSlices = [slice('web', http, webEps)];

test('nft accepts the rendered ruleset (kernel check, nothing committed)', async () => {
  const everything = world(
    [
      svc(
        'lb',
        {
          type: 'LoadBalancer',
          clusterIP: '10.96.0.21',
          externalIPs: ['192.168.50.200'],
          externalTrafficPolicy: 'Local',
          internalTrafficPolicy: 'Local',
          sessionAffinity: 'ClientIP',
          sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } },
          loadBalancerSourceRanges: ['192.168.50.0/28', '10.0.0.0/8'],
          ports: [
            { name: 'http', port: 80, nodePort: 30080 },
            { name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 },
            { name: 'sctp', port: 9999, protocol: 'SCTP', nodePort: 30099 },
          ],
        },
        '192.168.50.100',
      ),
      svc('empty', { type: 'NodePort', clusterIP: '10.96.0.22', ports: [{ port: 80, nodePort: 30081 }] }),
      svc(`${'x'.repeat(63)}`, { clusterIP: '10.96.0.23', ports: [{ name: 'y'.repeat(15), port: 80 }] }),
      web,
    ],
    [
      ...webSlices,
      slice(
        'lb',
        [
          { name: 'http', port: 8080 },
          { name: 'dns', port: 5353, protocol: 'UDP' },
          { name: 'sctp', port: 9999, protocol: 'SCTP' },
        ],
        webEps,
      ),
      slice('x'.repeat(63), [{ name: 'y'.repeat(15), port: 80 }], [{ ip: '10.244.255.254', node: 'n3' }]),
    ],
  );
  for (const c of [...all(everything).chains, ...all(everything).maps, ...all(everything).sets])
    assert.ok(c.name.length <= MAX_NAME, c.name);
  for (const f of [everything, world([], [])]) {
    const r = await execa('unshare', ['--net', 'nft', '-c', '-f', '-'], {
      input: fullScript(f),
      reject: false,
      timeout: 20_000,
    });
    assert.equal(r.exitCode, 0, r.stderr);
  }
  // And a broken one is refused (the check can fail).
  const bad = await execa('unshare', ['--net', 'nft', '-c', '-f', '-'], {
    input: `${fullScript(everything)}add rule ip skiff-proxy-0 services goto no-such-chain\n`,
    reject: false,
    timeout: 20_000,
  });
  assert.notEqual(bad.exitCode, 0);
});

test('hostile values from the store never reach the ruleset: nft accepts it, the good endpoint stays', async () => {
  // The API checks slices' shape only, and a node may write its pods' status.podIP: whatever
  // lands in a slice or a Service must be skipped, not pasted into nft text or thrown on.
  const raw = <T>(x: unknown) => x as T;
  const evil = svc(
    'evil',
    raw<Spec>({
      type: 'LoadBalancer',
      clusterIP: '10.96.0.30',
      externalIPs: ['127.0.0.1', '0.0.0.0', '169.254.1.1', '224.0.0.1', '10.1.2.3\nadd table ip pwn', null],
      sessionAffinity: 'ClientIP',
      sessionAffinityConfig: { clientIP: { timeoutSeconds: -1 } },
      loadBalancerSourceRanges: ['foo', null, '10.0.0.0/x', ' 192.168.50.0/28 '],
      ports: [null, { name: 'http', port: 80, nodePort: 70000 }, { name: 'big', port: 70000 }],
    }),
    '127.0.0.2',
  );
  const evilSlice: EndpointSlice = {
    ...slice('evil', http, [{ ip: '10.244.1.5', node: 'n1' }]),
    ports: raw([null, { name: 'http', port: 8080, protocol: 'TCP' }]),
  };
  evilSlice.endpoints.push(
    ...raw<EndpointSlice['endpoints']>([
      null,
      { addresses: null },
      { addresses: ['999.1.1.1'] },
      { addresses: ['10.244.2.7\nadd table ip pwn'] },
      { addresses: ['127.0.0.1'] },
      { addresses: [42] },
    ]),
  );
  const badPort = slice('evil', raw([{ name: 'http', port: 70000 }]), [{ ip: '10.244.2.9', node: 'n2' }], 'b');
  const rules = world([evil, web], [evilSlice, badPort, ...webSlices]);
  const script = fullScript(rules);
  assert.doesNotMatch(script, /pwn|999\.1|127\.0\.0\.[12] \.|(?<!0x)70000|timeout -1/); // 0x70000: a shard mark
  assert.deepEqual(reachable(rules, fromPod('10.96.0.30', 80)), ['10.244.1.5:8080']);
  assert.deepEqual(reachable(rules, fromPod('10.96.0.20', 80)), ['10.244.1.5:8080', '10.244.2.7:8080']);
  const r = await execa('unshare', ['--net', 'nft', '-c', '-f', '-'], {
    input: script,
    reject: false,
    timeout: 20_000,
  });
  assert.equal(r.exitCode, 0, r.stderr);
});

test('10.96.0.20:80/tcp from pod 10.244.1.5 reaches either endpoint, unmasqueraded', () => {
  const rules = world([web], webSlices);
  assert.deepEqual(reachable(rules, fromPod('10.96.0.20', 80, '10.244.1.9')), ['10.244.1.5:8080', '10.244.2.7:8080']);
  const t = trace(rules, fromPod('10.96.0.20', 80, '10.244.1.9'), { local: localOf(n1), pick: () => 1 });
  assert.deepEqual(t.dnat, { ip: '10.244.2.7', port: 8080 });
  assert.ok(t.chains.includes('svc-default/web/tcp/80'));
  // No chain per endpoint: the service chain DNATs through its endpoint map.
  assert.ok(!t.chains.some((c) => c.startsWith('ep-')));
  assert.ok(!all(rules).chains.some((c) => c.name.startsWith('ep-')));
  assert.equal(t.masquerade, false);
});

test('the node itself reaching a ClusterIP is masqueraded; a hairpin too', () => {
  const rules = world([web], webSlices);
  const fromNode = trace(
    rules,
    { src: '192.168.50.11', dst: '10.96.0.20', dport: 80, proto: 'tcp', origin: 'node' },
    { local: localOf(n1) },
  );
  assert.equal(fromNode.dnat?.ip, '10.244.1.5');
  assert.equal(fromNode.masquerade, true);
  // 10.244.1.5 sent to its own Service and picked itself.
  const hairpin = trace(rules, fromPod('10.96.0.20', 80, '10.244.1.5'), { local: localOf(n1), pick: () => 0 });
  assert.equal(hairpin.dnat?.ip, '10.244.1.5');
  assert.equal(hairpin.masquerade, true);
  const other = trace(rules, fromPod('10.96.0.20', 80, '10.244.1.5'), { local: localOf(n1), pick: () => 1 });
  assert.equal(other.masquerade, false);
});

test('a hairpin is masqueraded on every path: iTP Local, an eTP Local NodePort, session affinity', () => {
  const itp = svc('itp', {
    clusterIP: '10.96.0.61',
    internalTrafficPolicy: 'Local',
    ports: [{ name: 'http', port: 80 }],
  });
  const etp = svc('etp', {
    type: 'NodePort',
    clusterIP: '10.96.0.62',
    externalTrafficPolicy: 'Local',
    ports: [{ name: 'http', port: 80, nodePort: 30062 }],
  });
  const sticky = svc('sticky', {
    clusterIP: '10.96.0.63',
    sessionAffinity: 'ClientIP',
    ports: [{ name: 'http', port: 80 }],
  });
  const only = [{ ip: '10.244.1.5', node: 'n1' }];
  const rules = world(
    [itp, etp, sticky],
    ['itp', 'etp', 'sticky'].map((n) => slice(n, http, only)),
  );
  for (const [dst, port] of [
    ['10.96.0.61', 80],
    ['10.96.0.62', 80],
    ['192.168.50.11', 30062],
    ['10.96.0.63', 80],
  ] as const) {
    const t = trace(rules, fromPod(dst, port, '10.244.1.5'), { local: localOf(n1) });
    assert.deepEqual(t.dnat, { ip: '10.244.1.5', port: 8080 }, `${dst}:${port}`);
    assert.equal(t.masquerade, true, `${dst}:${port} hairpin`);
    // Another pod of the node keeps its address.
    const other = trace(rules, fromPod(dst, port, '10.244.1.9'), { local: localOf(n1) });
    assert.equal(other.masquerade, false, `${dst}:${port} from another pod`);
  }
});

test('hairpin pairs: the pod addresses of the node subnet, none for a subnet too large, too small or invalid', () => {
  const pairs = hairpinPairs('10.244.1.0/24');
  assert.equal(pairs.length, 253);
  assert.equal(pairs[0], '10.244.1.2 . 10.244.1.2');
  assert.equal(pairs.at(-1), '10.244.1.254 . 10.244.1.254');
  assert.equal(hairpinPairs('10.244.0.0/16').length, 65533);
  assert.deepEqual(hairpinPairs('10.244.1.4/30'), ['10.244.1.6 . 10.244.1.6']);
  for (const bad of ['10.244.0.0/15', '10.244.1.0/31', '10.244.1.1/32', '', 'bogus', '10.244.1.0/2x'])
    assert.deepEqual(hairpinPairs(bad), [], bad);
  // Only DNATed connections: a pod's (or the bridge's) connection to itself is no hairpin of ours.
  const rules = world([web], webSlices);
  assert.equal(trace(rules, fromPod('10.244.1.5', 8080, '10.244.1.5'), { local: localOf(n1) }).masquerade, false);
});

test('a Service with no endpoints is rejected, from pods and from the node', () => {
  const empty = svc('empty', { clusterIP: '10.96.0.30', ports: [{ port: 80 }] });
  const rules = world(
    [empty, web],
    [...webSlices, slice('empty', http, [{ ip: '10.244.1.8', node: 'n1', ready: false, serving: false }])],
  );
  assert.equal(trace(rules, fromPod('10.96.0.30', 80), { local: localOf(n1) }).verdict, 'reject');
  const t = trace(
    rules,
    { src: '192.168.50.11', dst: '10.96.0.30', dport: 80, proto: 'tcp', origin: 'node' },
    { local: localOf(n1) },
  );
  assert.equal(t.verdict, 'reject');
  assert.equal(t.dnat, undefined);
});

test('unallocated service IPs and unused ClusterIP ports are rejected; the cluster DNS IP is left alone', () => {
  const dns = svc('kube-dns', { clusterIP: '10.96.0.10', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] });
  const rules = world(
    [web, dns],
    [...webSlices, slice('kube-dns', [{ name: 'dns', port: 53, protocol: 'UDP' }], webEps)],
  );
  const at = (dst: string, dport: number, proto: Packet['proto'] = 'tcp') =>
    trace(rules, fromPod(dst, dport, '10.244.1.9', proto), { local: localOf(n1) });
  assert.equal(at('10.96.0.99', 80).verdict, 'reject');
  assert.equal(at('10.96.0.20', 81).verdict, 'reject');
  const toDns = at('10.96.0.10', 53, 'udp');
  assert.equal(toDns.verdict, 'accept');
  assert.equal(toDns.dnat, undefined);
  // Outside the service range nothing is touched.
  assert.equal(at('10.244.2.7', 8080).verdict, 'accept');
  assert.equal(at('10.244.2.7', 8080).dnat, undefined);
});

for (const mapKeyLookup of [true, false])
  test(`NodePort from outside on the node address, masqueraded; not on 127/8 (map key lookup ${mapKeyLookup})`, () => {
    const np = svc('np', {
      type: 'NodePort',
      clusterIP: '10.96.0.40',
      ports: [{ name: 'http', port: 80, nodePort: 30080 }],
    });
    const rules = world([np], [slice('np', http, webEps)], { ...n1, mapKeyLookup });
    // Kernels before 6.5 refuse a verdict map in a plain lookup: there the rule goes straight to fib.
    const portIn = [...rules.values()]
      .flatMap((f) => f.chains.flatMap((c) => c.rules))
      .filter((r) => r.match.some((m) => m.m === 'portIn'));
    // The shared table's check and dispatch, and each shard's.
    assert.equal(portIn.length, mapKeyLookup ? 2 + DEFAULT_SHARDS : 0);
    assert.deepEqual(reachable(rules, fromOutside('192.168.50.11', 30080)), ['10.244.1.5:8080', '10.244.2.7:8080']);
    const t = trace(rules, fromOutside('192.168.50.11', 30080), { local: localOf(n1) });
    assert.equal(t.masquerade, true);
    assert.ok(t.chains.includes('ext-default/np/tcp/80'));
    const lo = trace(
      rules,
      { src: '127.0.0.1', dst: '127.0.0.1', dport: 30080, proto: 'tcp', origin: 'node' },
      { local: localOf(n1) },
    );
    assert.equal(lo.dnat, undefined);
    // Some other host's address on the port is not ours; another port on ours is no NodePort.
    assert.equal(trace(rules, fromOutside('192.168.50.99', 30080), { local: localOf(n1) }).dnat, undefined);
    assert.equal(trace(rules, fromOutside('192.168.50.11', 30081), { local: localOf(n1) }).dnat, undefined);
  });

test('externalTrafficPolicy Local: only local endpoints, client address kept; dropped where none is local', () => {
  const spec: Spec = {
    type: 'LoadBalancer',
    clusterIP: '10.96.0.50',
    externalTrafficPolicy: 'Local',
    ports: [{ name: 'http', port: 80, nodePort: 30050 }],
  };
  const lb = svc('lb', spec, '192.168.50.100');
  const slices = [slice('lb', http, [{ ip: '10.244.1.5', node: 'n1' }])];
  const onN1 = world([lb], slices, n1);
  assert.deepEqual(reachable(onN1, fromOutside('192.168.50.11', 30050), n1), ['10.244.1.5:8080']);
  assert.equal(trace(onN1, fromOutside('192.168.50.11', 30050), { local: localOf(n1) }).masquerade, false);
  assert.deepEqual(reachable(onN1, fromOutside('192.168.50.100', 80), n1), ['10.244.1.5:8080']);
  const onN2 = world([lb], slices, n2);
  assert.equal(trace(onN2, fromOutside('192.168.50.12', 30050), { local: localOf(n2) }).verdict, 'drop');
  assert.equal(
    trace(onN2, fromOutside('192.168.50.100', 80), { local: [...localOf(n2), '192.168.50.100'] }).verdict,
    'drop',
  );
  // The ClusterIP still reaches the endpoint from n2 (internal policy Cluster).
  assert.deepEqual(reachable(onN2, fromPod('10.96.0.50', 80, '10.244.2.9'), n2), ['10.244.1.5:8080']);
});

test('internalTrafficPolicy Local: the ClusterIP only reaches local endpoints, dropped when none', () => {
  const s = svc('itp', {
    clusterIP: '10.96.0.60',
    internalTrafficPolicy: 'Local',
    ports: [{ name: 'http', port: 80 }],
  });
  const slices = [slice('itp', http, webEps)];
  assert.deepEqual(reachable(world([s], slices, n1), fromPod('10.96.0.60', 80), n1), ['10.244.1.5:8080']);
  const n3 = node('n3', '192.168.50.13', '10.244.3.0/24');
  assert.equal(
    trace(world([s], slices, n3), fromPod('10.96.0.60', 80, '10.244.3.4'), { local: localOf(n3) }).verdict,
    'drop',
  );
});

test('terminating-but-serving endpoints are used only when no ready one is left', () => {
  const eps: Ep[] = [
    { ip: '10.244.1.5', node: 'n1', ready: false, serving: true, terminating: true },
    { ip: '10.244.2.7', node: 'n2' },
  ];
  assert.deepEqual(reachable(world([web], [slice('web', http, eps)]), fromPod('10.96.0.20', 80)), ['10.244.2.7:8080']);
  eps[1] = { ip: '10.244.2.7', node: 'n2', ready: false, serving: false, terminating: true };
  assert.deepEqual(reachable(world([web], [slice('web', http, eps)]), fromPod('10.96.0.20', 80)), ['10.244.1.5:8080']);
});

test('named targetPorts resolve per slice; several ports and protocols', () => {
  const multi = svc('multi', {
    clusterIP: '10.96.0.70',
    ports: [
      { name: 'http', port: 80, targetPort: 'http' },
      { name: 'dns', port: 53, protocol: 'UDP' },
      { name: 'sig', port: 5060, protocol: 'SCTP' },
    ],
  });
  const slices = [
    slice(
      'multi',
      [
        { name: 'http', port: 8080 },
        { name: 'dns', port: 5353, protocol: 'UDP' },
        { name: 'sig', port: 5061, protocol: 'SCTP' },
      ],
      [webEps[0]],
      'a',
    ),
    slice('multi', [{ name: 'http', port: 9090 }], [webEps[1]], 'b'),
  ];
  const rules = world([multi], slices);
  assert.deepEqual(reachable(rules, fromPod('10.96.0.70', 80)), ['10.244.1.5:8080', '10.244.2.7:9090']);
  assert.deepEqual(reachable(rules, fromPod('10.96.0.70', 53, '10.244.1.9', 'udp')), ['10.244.1.5:5353']);
  assert.deepEqual(reachable(rules, fromPod('10.96.0.70', 5060, '10.244.1.9', 'sctp')), ['10.244.1.5:5061']);
  // TCP to the UDP port: no such service port.
  assert.equal(trace(rules, fromPod('10.96.0.70', 53), { local: localOf(n1) }).verdict, 'reject');
});

test('sessionAffinity ClientIP sticks to the endpoint a client was sent to first', () => {
  const sticky = svc('sticky', {
    clusterIP: '10.96.0.80',
    sessionAffinity: 'ClientIP',
    sessionAffinityConfig: { clientIP: { timeoutSeconds: 30 } },
    ports: [{ name: 'http', port: 80 }],
  });
  const rules = world([sticky], [slice('sticky', http, webEps)]);
  assert.ok(all(rules).sets.every((s) => s.timeout === 30));
  const dynamic = new Map<string, Set<string>>();
  const first = trace(rules, fromPod('10.96.0.80', 80), { local: localOf(n1), pick: () => 1, dynamic });
  for (let i = 0; i < 4; i++) {
    const again = trace(rules, fromPod('10.96.0.80', 80), { local: localOf(n1), pick: () => 0, dynamic });
    assert.deepEqual(again.dnat, first.dnat);
  }
  // Another client is not stuck.
  assert.equal(
    trace(rules, fromPod('10.96.0.80', 80, '10.244.1.10'), { local: localOf(n1), pick: () => 0, dynamic }).dnat?.ip,
    '10.244.1.5',
  );
});

test('loadBalancerSourceRanges: allowed clients reach the LB IP, others are dropped', () => {
  const lb = svc(
    'fw',
    {
      type: 'LoadBalancer',
      clusterIP: '10.96.0.90',
      loadBalancerSourceRanges: ['192.168.50.0/28'],
      ports: [{ name: 'http', port: 80, nodePort: 30090 }],
    },
    '192.168.50.100',
  );
  const rules = world([lb], [slice('fw', http, webEps)]);
  const local = [...localOf(n1), '192.168.50.100'];
  assert.ok(trace(rules, fromOutside('192.168.50.100', 80, '192.168.50.2'), { local }).dnat);
  assert.equal(trace(rules, fromOutside('192.168.50.100', 80, '192.168.50.77'), { local }).verdict, 'drop');
});

test('externalIPs are served like LB IPs; ExternalName, headless and the DNS Service get no rules', () => {
  const ext = svc('ext', {
    clusterIP: '10.96.0.95',
    externalIPs: ['192.168.50.201'],
    ports: [{ name: 'http', port: 80 }],
  });
  const rules = world(
    [
      ext,
      svc('name', { type: 'ExternalName', externalName: 'example.org' }),
      svc('headless', { clusterIP: 'None', ports: [{ name: 'http', port: 80 }] }),
      svc('kube-dns', { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80 }] }),
    ],
    ['ext', 'name', 'headless', 'kube-dns'].map((s) => slice(s, http, webEps)),
  );
  assert.deepEqual(reachable(rules, fromOutside('192.168.50.201', 80)), ['10.244.1.5:8080', '10.244.2.7:8080']);
  const names = all(rules)
    .chains.map((c) => c.name)
    .join(' ');
  assert.doesNotMatch(names, /headless|kube-dns|\/name\//);
  assert.deepEqual([...(rules.get('skiff-proxy')?.members.get('cluster-ips') ?? [])], ['10.96.0.95']);
});

test("sharded: the dispatch marks a connection for its Service's shard; the others pass it with one compare", () => {
  const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
  const services = names.map((n, i) =>
    svc(n, { clusterIP: `10.96.1.${i + 1}`, ports: [{ name: 'http', port: 80, targetPort: 'http' }] }),
  );
  const rules = world(
    services,
    names.map((n) => slice(n, http, webEps)),
    n1,
    4,
  );
  const owners = new Set<number>();
  for (const [i, n] of names.entries()) {
    const own = shardOf(`default/${n}`, 4);
    owners.add(own);
    // A mark another program left in the shard bits is overwritten, its other bits are kept.
    for (const mark of [0, 0xff000001, 0x00840001]) {
      const t = trace(rules, { ...fromPod(`10.96.1.${i + 1}`, 80), mark }, { local: localOf(n1) });
      assert.equal(t.dnat?.ip, '10.244.1.5', n);
      const nat = t.base.filter((b) => b.endsWith(':nat-prerouting'));
      assert.deepEqual(
        nat,
        Array.from({ length: own + 1 }, (_, k) => `${shardTable(k)}:nat-prerouting`),
        n,
      );
      // Of the shards passed, only its own looked a map up.
      assert.deepEqual(
        t.chains.filter((c) => c === 'services' || c.startsWith('to-shard-')),
        [`to-shard-${own}`, 'services'],
      );
      assert.equal(t.mark & SHARD_MARK_MASK, 0, 'the shard bits are 0 again after the shard took it');
      assert.equal(t.mark & 0x00ffffff, mark & 0x00ffffff, 'the bits below the shard byte are kept');
      assert.equal(t.masquerade, false);
    }
  }
  assert.ok(owners.size > 1, 'the Services are spread over several shards');
  // Traffic to no Service passes every shard with one compare and is not translated.
  const none = trace(rules, fromPod('10.244.2.7', 8080), { local: localOf(n1) });
  assert.equal(none.base.filter((b) => b.endsWith(':nat-prerouting')).length, 4);
  assert.equal(none.dnat, undefined);
  assert.ok(!none.chains.includes('services'));
  assert.equal(none.mark, 0);
  // Marks of other programs (Tailscale's 0x40000/0x80000 under 0xff0000) pass untouched.
  for (const mark of [0x40000, 0x80000, 0x8000, 0x1])
    assert.equal(trace(rules, { ...fromPod('10.244.2.7', 8080), mark }, { local: localOf(n1) }).mark, mark);
  // A mark with Skiff's masquerade bit on a connection no Service translated is not Skiff's:
  // WireGuard's packets to its peer (fwmark 51820 = 0xca6c) keep their mark and source port.
  const wg: Packet = { src: '192.168.50.11', dst: '192.168.50.12', dport: 51820, proto: 'udp', origin: 'node' };
  for (const mark of [0xca6c, MASQ_MARK]) {
    const t = trace(rules, { ...wg, mark }, { local: localOf(n1) });
    assert.deepEqual([t.masquerade, t.mark, t.dnat], [false, mark, undefined]);
  }
  // The dispatch holds exactly the shards' nat keys (a port with no endpoints is in no shard).
  const keys = (m: string) => [...rules.values()].flatMap((f) => [...(f.elements.get(m)?.keys() ?? [])]).sort();
  assert.deepEqual(keys('shard-ips'), keys('service-ips'));
  assert.equal(keys('shard-ips').length, names.length);
});

test('tracer: at one hook, nat chains run in priority order and the first to set up a binding wins', () => {
  const dnatTo = (ip: string, priority: number): Fragment => ({
    ...mergeFragments([]),
    chains: [
      {
        name: 'nat',
        hook: { type: 'nat', hook: 'output', priority },
        rules: [{ match: [{ m: 'l4proto', proto: 'tcp' }], action: { a: 'dnat', ip, port: 80 } }],
      },
    ],
  });
  const pkt: Packet = { src: '192.168.50.11', dst: '10.96.0.5', dport: 80, proto: 'tcp', origin: 'node' };
  const run = (a: number, b: number) =>
    trace(
      new Map([
        ['first', dnatTo('10.244.1.1', a)],
        ['second', dnatTo('10.244.1.2', b)],
      ]),
      pkt,
      { local: localOf(n1) },
    );
  assert.equal(run(-100, -100).dnat?.ip, '10.244.1.1');
  assert.deepEqual(run(-100, -100).base, ['first:nat']);
  assert.equal(run(-100, -101).dnat?.ip, '10.244.1.2');
  assert.deepEqual(run(-100, -101).base, ['second:nat']);
});
