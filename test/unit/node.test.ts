import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderConditions, renderNode, type NodeFacts } from '../../agent/node-status.ts';
import { authorize } from '../../controlplane/api/authz.ts';
import { renderContainerdConfig } from '../../agent/containerd/config.ts';
import { renderHostsToml, registryHosts } from '../../agent/images/mirror.ts';
import { formatToken, parseToken } from '../../controlplane/shared/join-token.ts';
import { renderConflist } from '../../agent/network/cni-install.ts';

const facts: NodeFacts = {
  name: 'n1',
  ip: '10.250.0.11',
  hostname: 'n1',
  cpus: 2,
  memoryBytes: 4 * 1024 ** 3,
  maxPods: 110,
  podCidr: '10.244.1.0/24',
  kernelVersion: '6.1',
  osImage: 'Debian',
  machineID: 'm',
  bootID: 'b',
  runtimeVersion: 'containerd://1.6.20',
  runtimeReady: true,
  networkReady: true,
  runtimeMessage: '',
};

test('node conditions: Ready follows the runtime; transition times move only on change', () => {
  const a = renderConditions(facts, [], 't1');
  assert.deepEqual(a.find((c) => c.type === 'Ready')!.status, 'True');
  const b = renderConditions(facts, a, 't2');
  const ready = b.find((c) => c.type === 'Ready')!;
  assert.equal(ready.lastTransitionTime, 't1');
  assert.equal(ready.lastHeartbeatTime, 't2');
  const down = renderConditions({ ...facts, runtimeReady: false, runtimeMessage: 'containerd is down' }, b, 't3').find(
    (c) => c.type === 'Ready',
  )!;
  assert.deepEqual(
    [down.status, down.reason, down.message, down.lastTransitionTime],
    ['False', 'KubeletNotReady', 'containerd is down', 't3'],
  );
});

test('the Node object carries capacity, addresses, labels and nodeInfo', () => {
  const n = renderNode(facts, []);
  assert.equal(n.metadata.labels?.['kubernetes.io/hostname'], 'n1');
  assert.deepEqual(n.spec, { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'] });
  assert.equal(n.status?.capacity?.memory, `${4 * 1024 * 1024}Ki`);
  assert.equal(n.status?.allocatable?.memory, `${4 * 1024 * 1024 - 256 * 1024}Ki`);
  assert.deepEqual(n.status?.addresses?.[0], { type: 'InternalIP', address: '10.250.0.11' });
  assert.equal(n.status?.nodeInfo?.containerRuntimeVersion, 'containerd://1.6.20');
});

test('node credentials may only act as their node', () => {
  const node = { name: 'system:node:n1', uid: 'x', groups: ['system:nodes'] };
  const admin = { name: 'admin', uid: 'a', groups: ['system:masters'] };
  const cases: [typeof node, object, boolean][] = [
    [admin, { verb: 'delete', group: '', resource: 'secrets', namespace: 'x', name: 'y' }, true],
    [node, { verb: 'create', group: '', resource: 'nodes', name: 'n1' }, true],
    [node, { verb: 'create', group: '', resource: 'nodes', name: 'n2' }, false],
    [node, { verb: 'patch', group: '', resource: 'nodes', subresource: 'status', name: 'n1' }, true],
    [node, { verb: 'patch', group: '', resource: 'nodes', subresource: 'status', name: 'n2' }, false],
    [node, { verb: 'delete', group: '', resource: 'nodes', name: 'n1' }, false],
    [
      node,
      { verb: 'patch', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-node-lease', name: 'n1' },
      true,
    ],
    [
      node,
      { verb: 'patch', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-node-lease', name: 'n2' },
      false,
    ],
    [
      node,
      { verb: 'patch', group: 'coordination.k8s.io', resource: 'leases', namespace: 'default', name: 'n1' },
      false,
    ],
    [node, { verb: 'list', group: '', resource: 'pods' }, true],
    [node, { verb: 'list', group: '', resource: 'secrets' }, false],
    [node, { verb: 'create', group: '', resource: 'pods', namespace: 'default', name: 'p' }, false],
    [{ name: 'someone', uid: 's', groups: [] }, { verb: 'get', group: '', resource: 'pods' }, false],
  ];
  for (const [user, attrs, want] of cases)
    assert.equal(authorize(user, attrs as Parameters<typeof authorize>[1]).allowed, want, JSON.stringify(attrs));
});

test('join tokens round-trip and malformed ones are refused', () => {
  const t = { caHash: 'sha256:' + 'ab'.repeat(32), secret: 'cd'.repeat(24) };
  assert.deepEqual(parseToken(formatToken(t)), t);
  for (const bad of ['', 'skiff-v1:abc:def', 'K10xyz::server:secret', formatToken(t) + ':extra'])
    assert.throws(() => parseToken(bad), /malformed join token/);
});

test('containerd config isolates one node; registry mirrors carry CA and credential', () => {
  const c = renderContainerdConfig({
    root: '/r',
    state: '/s',
    socket: '/s/c.sock',
    runcRoot: '/runc',
    cniBin: '/bin',
    cniConf: '/conf',
    registryConfig: '/certs',
    sandboxImage: 'skiff.local/pause:3.10',
  });
  for (const want of [
    'root = "/r"',
    'address = "/s/c.sock"',
    'address = "/s/c.sock.ttrpc"',
    'restrict_oom_score_adj = true',
    'SystemdCgroup = false',
    'Root = "/runc"',
    'bin_dir = "/bin"',
    'config_path = "/certs"',
    'netns_mounts_under_state_dir = true',
    'sandbox_image = "skiff.local/pause:3.10"',
  ])
    assert.ok(c.includes(want), want);
  const h = renderHostsToml('docker.io', 'https://10.250.0.11:6443', '/ca.crt', 'tok');
  assert.match(h, /server = "https:\/\/docker\.io"/);
  assert.match(h, /\[host\."https:\/\/10\.250\.0\.11:6443"\]/);
  assert.match(h, /Authorization = "Bearer tok"/);
  assert.deepEqual(registryHosts(['docker.io/library/nginx:1', 'skiff.local/a:1', 'ghcr.io/x/y:2']), [
    'docker.io',
    'ghcr.io',
    'skiff.local',
  ]);
  const cl = JSON.parse(renderConflist({ podCidr: '10.244.1.0/24', mtu: 1450, bridge: 'skiff0', dataDir: '/ipam' }));
  assert.deepEqual(cl.plugins[0], {
    type: 'skiff',
    bridge: 'skiff0',
    subnet: '10.244.1.0/24',
    mtu: 1450,
    dataDir: '/ipam',
    hairpinMode: true,
    capabilities: { portMappings: true },
  });
});
