// The overlay's pure parts, table-driven: render (peers appear, move, vanish; host-gw's L2 check),
// diff (adoption changes nothing; only the difference is applied; backend switch), egress, subnet.env.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Backend, renderOverlay, type Self } from '../../agent/overlay/render.ts';
import { type ActualNet, assumeApplied, diffOverlay } from '../../agent/overlay/diff.ts';
import { txOffloadWanted } from '../../agent/overlay/offload.ts';
import { renderEgress } from '../../agent/overlay/egress.ts';
import { overlayMtu, renderSubnetEnv } from '../../agent/overlay/overlay.ts';
import type { Node } from '../../controlplane/shared/kube/index.ts';

const self: Self = {
  name: 'n1',
  podCidr: '10.244.1.0/24',
  clusterCidr: '10.244.0.0/16',
  nodeIp: '10.250.0.11',
  iface: 'eth0',
  ifaceCidr: '10.250.0.11/24',
  mtu: 1450,
  vtepMac: '0a:00:00:00:00:01',
};
const node = (name: string, pod: string, ip: string, mac?: string): Node => ({
  metadata: {
    name,
    annotations: { 'skiff.io/public-ip': ip, ...(mac ? { 'skiff.io/vtep-mac': mac } : {}) },
  },
  spec: { podCIDR: pod },
});
const n1 = node('n1', '10.244.1.0/24', '10.250.0.11', '0a:00:00:00:00:01');
const n2 = node('n2', '10.244.2.0/24', '10.250.0.12', '0a:00:00:00:00:02');
const n3 = node('n3', '10.244.3.0/24', '10.250.0.13', '0a:00:00:00:00:03');
const empty: ActualNet = { vxlan: null, addresses: [], routes: [], neighbours: [], fdb: [] };

/** What the kernel shows after a plan for `want` was applied (to feed the next diff). */
function applied(nodes: Node[], backend: Backend = 'vxlan'): ActualNet {
  return assumeApplied(renderOverlay(self, backend, nodes));
}

test('render: the device, and a route, neighbour and FDB entry per peer (not for itself)', () => {
  const d = renderOverlay(self, 'vxlan', [n1, n2, n3]);
  assert.deepEqual(d.vxlan, {
    name: 'skiff.1',
    vni: 1,
    port: 8472,
    local: '10.250.0.11',
    dev: 'eth0',
    mtu: 1450,
    mac: '0a:00:00:00:00:01',
  });
  assert.deepEqual(d.addresses, ['10.244.1.0/32']);
  assert.deepEqual(d.routes, [
    { dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'skiff.1', onlink: true },
    { dst: '10.244.3.0/24', via: '10.244.3.0', dev: 'skiff.1', onlink: true },
  ]);
  assert.deepEqual(d.neighbours[0], { dev: 'skiff.1', ip: '10.244.2.0', mac: '0a:00:00:00:00:02' });
  assert.deepEqual(d.fdb[1], { dev: 'skiff.1', mac: '0a:00:00:00:00:03', dst: '10.250.0.13' });
  assert.deepEqual(d.errors, []);
});

test('render: a peer whose Node publishes facts that could inject or misroute is left out with a reason', () => {
  // A node's credential may write its own Node: its annotations and podCIDR reach `ip -batch`
  // lines and the egress nft script on every other node.
  const cases: [Node, RegExp][] = [
    [node('m1', '10.244.4.0/24', '10.250.0.14', '0a:00:00:00:00:04\nroute replace default via 1.2.3.4'), /VTEP MAC/],
    [node('m2', '10.244.5.0/24', '10.250.0.15', 'zz:00:00:00:00:05'), /VTEP MAC/],
    [node('m3', '10.244.6.0/24', '10.250.0.16 }\ndelete table inet filter', '0a:00:00:00:00:06'), /node IP/],
    [node('m4', '10.244.7.0/24', '999.250.0.17', '0a:00:00:00:00:07'), /node IP/],
    [node('m5', '0.0.0.0/0', '10.250.0.18', '0a:00:00:00:00:08'), /outside the cluster network/],
    [node('m6', '10.0.0.0/8', '10.250.0.19', '0a:00:00:00:00:09'), /outside the cluster network/],
    [node('m7', '10.245.1.0/24', '10.250.0.20', '0a:00:00:00:00:0a'), /outside the cluster network/],
    [node('m8', 'fd00::/64', '10.250.0.21', '0a:00:00:00:00:0b'), /invalid podCIDR/],
    [node('m9', '10.244.9.0/', '10.250.0.22', '0a:00:00:00:00:0c'), /invalid podCIDR/],
    [node('m10', '10.244.1.128/25', '10.250.0.23', '0a:00:00:00:00:0d'), /overlaps this node's/],
    [node('m11', '10.244.0.0/16', '10.250.0.24', '0a:00:00:00:00:0e'), /overlaps this node's/],
  ];
  for (const backend of ['vxlan', 'host-gw'] as const) {
    const d = renderOverlay(self, backend, [...cases.map(([n]) => n), n2]);
    assert.deepEqual(
      d.routes.map((r) => r.dst),
      ['10.244.2.0/24'],
      backend,
    );
    assert.equal(d.errors.length, cases.length, d.errors.join('\n'));
    for (const [i, [n, why]] of cases.entries()) {
      assert.match(d.errors[i], new RegExp(`node ${n.metadata.name}\\b`));
      assert.match(d.errors[i], why);
    }
  }
});

test('render: peers without a MAC yet, without a subnet, or off-L2 for host-gw are left out with a reason', () => {
  const noMac = node('n4', '10.244.4.0/24', '10.250.0.14');
  const noCidr: Node = { metadata: { name: 'n5' } };
  const far = node('n6', '10.244.6.0/24', '192.168.9.6', '0a:00:00:00:00:06');
  const v = renderOverlay(self, 'vxlan', [noMac, noCidr, far]);
  assert.deepEqual(
    v.routes.map((r) => r.dst),
    ['10.244.6.0/24'],
  );
  assert.match(v.errors[0], /n4 has not published its VTEP MAC/);
  const h = renderOverlay(self, 'host-gw', [noMac, far]);
  assert.deepEqual(h.routes, [{ dst: '10.244.4.0/24', via: '10.250.0.14', dev: 'eth0', onlink: false }]);
  assert.match(h.errors[0], /n6 \(192\.168\.9\.6\) is not on this node's L2 network 10\.250\.0\.0\/24/);
  assert.equal(h.vxlan, null);
});

const cases: { name: string; have: ActualNet; nodes: Node[]; backend?: Backend; ip: string[]; bridge: string[] }[] = [
  {
    name: 'first start: device, address, then one entry set per peer',
    have: empty,
    nodes: [n1, n2],
    ip: [
      'link add skiff.1 address 0a:00:00:00:00:01 mtu 1450 type vxlan id 1 local 10.250.0.11 dev eth0 ' +
        'dstport 8472 nolearning',
      'link set skiff.1 up',
      'addr add 10.244.1.0/32 dev skiff.1',
      'route replace 10.244.2.0/24 via 10.244.2.0 dev skiff.1 onlink proto 77',
      'neigh replace 10.244.2.0 lladdr 0a:00:00:00:00:02 dev skiff.1 nud permanent',
    ],
    bridge: ['fdb append 0a:00:00:00:00:02 dev skiff.1 dst 10.250.0.12 self permanent'],
  },
  {
    name: 'restart: everything in place, nothing to do',
    have: applied([n1, n2, n3]),
    nodes: [n1, n2, n3],
    ip: [],
    bridge: [],
  },
  {
    name: 'a peer appears: only its entries',
    have: applied([n1, n2]),
    nodes: [n1, n2, n3],
    ip: [
      'route replace 10.244.3.0/24 via 10.244.3.0 dev skiff.1 onlink proto 77',
      'neigh replace 10.244.3.0 lladdr 0a:00:00:00:00:03 dev skiff.1 nud permanent',
    ],
    bridge: ['fdb append 0a:00:00:00:00:03 dev skiff.1 dst 10.250.0.13 self permanent'],
  },
  {
    name: 'a peer vanishes: its entries go',
    have: applied([n1, n2, n3]),
    nodes: [n1, n2],
    ip: ['route del 10.244.3.0/24 via 10.244.3.0 dev skiff.1 onlink proto 77', 'neigh del 10.244.3.0 dev skiff.1'],
    bridge: ['fdb del 0a:00:00:00:00:03 dev skiff.1 dst 10.250.0.13 self'],
  },
  {
    name: 'a peer moves to another address: only its FDB entry changes',
    have: applied([n1, n2]),
    nodes: [n1, node('n2', '10.244.2.0/24', '10.250.0.99', '0a:00:00:00:00:02')],
    ip: [],
    bridge: [
      'fdb del 0a:00:00:00:00:02 dev skiff.1 dst 10.250.0.12 self',
      'fdb append 0a:00:00:00:00:02 dev skiff.1 dst 10.250.0.99 self permanent',
    ],
  },
  {
    name: 'a peer comes back with a new VTEP MAC: neighbour and FDB follow',
    have: applied([n1, n2]),
    nodes: [n1, node('n2', '10.244.2.0/24', '10.250.0.12', '0a:00:00:00:00:22')],
    ip: ['neigh replace 10.244.2.0 lladdr 0a:00:00:00:00:22 dev skiff.1 nud permanent'],
    bridge: [
      'fdb del 0a:00:00:00:00:02 dev skiff.1 dst 10.250.0.12 self',
      'fdb append 0a:00:00:00:00:22 dev skiff.1 dst 10.250.0.12 self permanent',
    ],
  },
  {
    name: 'vxlan → host-gw: the device goes (its entries with it), routes via node IPs replace',
    have: applied([n1, n2]),
    nodes: [n1, n2],
    backend: 'host-gw',
    ip: ['link del skiff.1', 'route replace 10.244.2.0/24 via 10.250.0.12 dev eth0 proto 77'],
    bridge: [],
  },
  {
    name: 'host-gw → vxlan: a route of a peer no longer there is deleted, the rest replaced',
    have: applied([n1, n2, n3], 'host-gw'),
    nodes: [n1, n2],
    ip: [
      'link add skiff.1 address 0a:00:00:00:00:01 mtu 1450 type vxlan id 1 local 10.250.0.11 dev eth0 ' +
        'dstport 8472 nolearning',
      'link set skiff.1 up',
      'addr add 10.244.1.0/32 dev skiff.1',
      'route del 10.244.3.0/24 via 10.250.0.13 dev eth0 proto 77',
      'route replace 10.244.2.0/24 via 10.244.2.0 dev skiff.1 onlink proto 77',
      'neigh replace 10.244.2.0 lladdr 0a:00:00:00:00:02 dev skiff.1 nud permanent',
    ],
    bridge: ['fdb append 0a:00:00:00:00:02 dev skiff.1 dst 10.250.0.12 self permanent'],
  },
  {
    name: 'a device with the wrong local address is recreated; a wrong MTU is only set',
    have: (() => {
      const a = applied([n1]);
      a.vxlan = { ...a.vxlan!, local: '10.250.0.99' };
      return a;
    })(),
    nodes: [n1],
    ip: [
      'link del skiff.1',
      'link add skiff.1 address 0a:00:00:00:00:01 mtu 1450 type vxlan id 1 local 10.250.0.11 dev eth0 ' +
        'dstport 8472 nolearning',
      'link set skiff.1 up',
      'addr add 10.244.1.0/32 dev skiff.1',
    ],
    bridge: [],
  },
  {
    name: 'MTU and a down device are corrected in place',
    have: (() => {
      const a = applied([n1, n2]);
      a.vxlan = { ...a.vxlan!, mtu: 1500, up: false };
      a.addresses = ['10.244.1.0/32', '10.244.9.0/32'];
      return a;
    })(),
    nodes: [n1, n2],
    ip: ['link set skiff.1 mtu 1450', 'link set skiff.1 up', 'addr del 10.244.9.0/32 dev skiff.1'],
    bridge: [],
  },
];

for (const c of cases)
  test(`diff: ${c.name}`, () => {
    const plan = diffOverlay(renderOverlay(self, c.backend ?? 'vxlan', c.nodes), c.have);
    assert.deepEqual(plan, { ip: c.ip, bridge: c.bridge });
  });

test('a pass after a clean one (state assumed, not read) is empty, also across a backend switch', () => {
  const steps: [Node[], Backend][] = [
    [[n1, n2], 'vxlan'],
    [[n1, n2, n3], 'vxlan'],
    [[n1, n3], 'host-gw'],
    [[n1, n2], 'vxlan'],
  ];
  let have: ActualNet = { vxlan: null, addresses: [], routes: [], neighbours: [], fdb: [] };
  for (const [nodes, backend] of steps) {
    const want = renderOverlay(self, backend, nodes);
    assert.ok(diffOverlay(want, have).ip.length > 0, `a change to ${backend} with ${nodes.length} nodes`);
    have = assumeApplied(want);
    assert.deepEqual(diffOverlay(want, have), { ip: [], bridge: [] });
  }
});

test('tx checksum offload: off before kernel 5.7 or when unreadable, on after; the flag wins', () => {
  const table: [Parameters<typeof txOffloadWanted>[0], string, boolean][] = [
    ['auto', '4.19.0-27-amd64', false],
    ['auto', '5.4.0', false],
    ['auto', '5.6.19', false],
    ['auto', '5.7.0', true],
    ['auto', '5.10.0-30-amd64', true],
    ['auto', '6.18.44-fc', true],
    ['auto', 'weird', false],
    ['on', '4.19.0', true],
    ['off', '6.1.0', false],
  ];
  for (const [setting, rel, want] of table) assert.equal(txOffloadWanted(setting, rel), want, `${setting} ${rel}`);
});

test('egress: only this node’s pods, not to the cluster or its nodes, masqueraded; subnet.env and MTU', () => {
  const s = renderEgress({
    podCidr: '10.244.1.0/24',
    clusterCidr: '10.244.0.0/16',
    nodeIps: ['10.250.0.12', '10.250.0.11'],
  });
  assert.match(s, /^add table ip skiff-egress\ndelete table ip skiff-egress\n/);
  assert.match(s, /elements = \{ 10\.250\.0\.11, 10\.250\.0\.12 \}/);
  assert.match(
    s,
    new RegExp(
      /ip saddr != 10\.244\.1\.0\/24 return\n\s+ip daddr 10\.244\.0\.0\/16 return\n\s+/.source +
        /ip daddr @cluster_nodes return\n\s+masquerade/.source,
    ),
  );
  assert.doesNotMatch(
    renderEgress({ podCidr: '10.244.1.0/24', clusterCidr: '10.244.0.0/16', nodeIps: [] }),
    /elements/,
  );
  assert.equal(
    renderSubnetEnv({ clusterCidr: '10.244.0.0/16', podCidr: '10.244.1.0/24', mtu: 1450, backend: 'vxlan' }),
    'SKIFF_NETWORK=10.244.0.0/16\nSKIFF_SUBNET=10.244.1.1/24\nSKIFF_MTU=1450\nSKIFF_IPMASQ=true\nSKIFF_BACKEND=vxlan\n',
  );
  assert.equal(overlayMtu('vxlan', 1500), 1450);
  assert.equal(overlayMtu('host-gw', 1500), 1500);
  assert.equal(overlayMtu('vxlan', 9000, 1400), 1400);
});
