// The overlay's kernel layer against real namespaces: two "nodes" joined by a veth, each with a
// dummy device standing in for its pod subnet. Render → read (ip -j) → diff → apply programs
// VXLAN (pings cross with the pods' source addresses), a second pass changes nothing, a peer that
// vanishes leaves no route, neighbour or FDB entry, and switching to host-gw removes VXLAN's state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { netnsSet } from '../helpers/netns.ts';
import { until } from '../helpers/sandbox.ts';
import { assumeApplied, diffOverlay } from '../../agent/overlay/diff.ts';
import { applyPlan, findUnderlay, openSessions, readOverlay, type Sessions } from '../../agent/overlay/kernel.ts';
import { BatchSession } from '../../agent/overlay/batch-session.ts';
import { type Backend, renderOverlay } from '../../agent/overlay/render.ts';
import { applyEgress, egressDigest, kernelEgressListing, renderEgress } from '../../agent/overlay/egress.ts';
import type { Node } from '../../controlplane/shared/kube/index.ts';

const UL = '10.246.77.0/24';
const PODS = '10.247.0.0/16';

test('vxlan and host-gw programmed from the view, idempotent, peers removed, backends switched', async () => {
  const ns = await netnsSet('ovl', ['a', 'b'], [UL, PODS]);
  const [A, B] = ns.names;
  const sh = async (n: string, cmd: string) => {
    const r = await ns.exec(n, 'sh', ['-c', cmd]);
    if (r.exitCode !== 0) throw new Error(`${cmd}: ${r.stderr}`);
    return String(r.stdout);
  };
  // Node a applies through long-lived batch sessions as the agent does, node b one process a batch.
  let sessions: Sessions | undefined;
  try {
    await sh(A, `ip link add eth0 type veth peer name eth0 netns ${B}`);
    const nodes: Record<string, { ns: string; ip: string; pod: string; mac: string }> = {
      a: { ns: A, ip: '10.246.77.11', pod: '10.247.1.0/24', mac: '0a:00:00:00:00:0a' },
      b: { ns: B, ip: '10.246.77.12', pod: '10.247.2.0/24', mac: '0a:00:00:00:00:0b' },
    };
    for (const n of Object.values(nodes)) {
      const gw = n.pod.replace('.0/24', '.1/24');
      await sh(
        n.ns,
        `ip addr add ${n.ip}/24 dev eth0 && ip link set eth0 up && ip link set lo up && ` +
          (`ip link add pods type bridge && ip addr add ${gw} dev pods && ip link set pods up && sysctl -qw ` +
            `net.ipv4.ip_forward=1`),
      );
    }
    const nodeObj = (name: string): Node => ({
      metadata: {
        name,
        annotations: { 'skiff.io/vtep-mac': nodes[name].mac, 'skiff.io/public-ip': nodes[name].ip },
      },
      spec: { podCIDR: nodes[name].pod },
    });
    const wrapOf = (n: string) => ['nsenter', `--net=/run/netns/${n}`];
    const pass = async (name: string, backend: Backend, view: Node[]) => {
      const n = nodes[name];
      const wrap = wrapOf(n.ns);
      const u = await findUnderlay({ nodeIp: n.ip }, wrap);
      assert.equal(u.iface, 'eth0');
      const want = renderOverlay(
        {
          name,
          podCidr: n.pod,
          clusterCidr: PODS,
          nodeIp: n.ip,
          iface: u.iface,
          ifaceCidr: u.cidr,
          mtu: u.mtu - 50,
          vtepMac: n.mac,
        },
        backend,
        view,
      );
      const plan = diffOverlay(want, await readOverlay(wrap));
      if (name === 'a') sessions ??= openSessions(wrap);
      assert.deepEqual(await applyPlan(plan, wrap, name === 'a' ? sessions : undefined), []);
      // The agent diffs Node changes against this model of the kernel instead of reading it again.
      const norm = (x: ReturnType<typeof assumeApplied>) => {
        const byJson = <T>(xs: T[]) => [...xs].sort((p, q) => JSON.stringify(p).localeCompare(JSON.stringify(q)));
        return {
          ...x,
          addresses: byJson(x.addresses),
          routes: byJson(x.routes),
          neighbours: byJson(x.neighbours),
          fdb: byJson(x.fdb),
        };
      };
      assert.deepEqual(norm(await readOverlay(wrap)), norm(assumeApplied(want)));
      return plan;
    };
    const both = [nodeObj('a'), nodeObj('b')];
    const first = await pass('a', 'vxlan', both);
    assert.ok(first.ip.some((l) => l.startsWith('link add skiff.1')));
    await pass('b', 'vxlan', both);
    await sh(A, 'busybox ping -c 1 -W 2 -I 10.247.1.1 10.247.2.1');
    const a = await readOverlay(wrapOf(A));
    assert.deepEqual(a.routes, [{ dst: '10.247.2.0/24', via: '10.247.2.0', dev: 'skiff.1', onlink: true }]);
    assert.deepEqual(a.neighbours, [{ dev: 'skiff.1', ip: '10.247.2.0', mac: nodes.b.mac }]);
    assert.deepEqual(a.fdb, [{ dev: 'skiff.1', mac: nodes.b.mac, dst: nodes.b.ip }]);
    assert.equal(a.vxlan?.mtu, 1450);
    assert.deepEqual(a.addresses, ['10.247.1.0/32']);
    // A second pass (also what a restarted agent does) changes nothing.
    assert.deepEqual(await pass('a', 'vxlan', both), { ip: [], bridge: [] });
    // The peer vanishes: its entries go.
    await pass('a', 'vxlan', [nodeObj('a')]);
    const gone = await readOverlay(wrapOf(A));
    assert.deepEqual([gone.routes, gone.neighbours, gone.fdb], [[], [], []]);
    assert.ok(gone.vxlan, 'the device itself stays');
    // Switch both to host-gw: skiff.1 goes, a route via the peer's node IP comes, pings still cross.
    await pass('a', 'host-gw', both);
    await pass('b', 'host-gw', both);
    const hg = await readOverlay(wrapOf(A));
    assert.equal(hg.vxlan, null);
    assert.deepEqual(hg.routes, [{ dst: '10.247.2.0/24', via: nodes.b.ip, dev: 'eth0', onlink: false }]);
    await sh(A, 'busybox ping -c 1 -W 2 -I 10.247.1.1 10.247.2.1');
    // And back: the host-gw route is replaced by the VXLAN one.
    await pass('a', 'vxlan', both);
    await pass('b', 'vxlan', both);
    const back = await readOverlay(wrapOf(A));
    assert.deepEqual(back.routes, [{ dst: '10.247.2.0/24', via: '10.247.2.0', dev: 'skiff.1', onlink: true }]);
    await sh(A, 'busybox ping -c 1 -W 2 -I 10.247.1.1 10.247.2.1');
    // Egress: the table loads, and loading it again replaces it.
    const eg = renderEgress({ podCidr: nodes.a.pod, clusterCidr: PODS, nodeIps: [nodes.a.ip, nodes.b.ip] });
    await applyEgress(eg, wrapOf(A));
    await applyEgress(eg, wrapOf(A));
    const listed = await sh(A, 'nft list table ip skiff-egress');
    assert.match(listed, /masquerade/);
    assert.equal((listed.match(/masquerade/g) ?? []).length, 1);
    assert.equal(
      egressDigest(await kernelEgressListing(wrapOf(A))),
      egressDigest(eg),
      'a restarted agent can tell the table is current',
    );
  } finally {
    sessions?.ip.close();
    sessions?.bridge.close();
    await ns.cleanup();
  }
});

test('a batch session reports a failing line, goes on, and is started anew when its process dies', async () => {
  const ns = await netnsSet('bses', ['n'], []);
  const [N] = ns.names;
  const wrap = ['nsenter', `--net=/run/netns/${N}`];
  const ip = new BatchSession([...wrap, 'ip', '-force', '-j', '-batch', '-'], 'link show dev lo');
  try {
    assert.equal(await ip.run(['link set lo up']), '');
    const err = await ip.run(['link set nosuchdev up', 'link add skbs0 type bridge']);
    assert.match(err, /nosuchdev/);
    // The line after the failing one was carried out.
    assert.match(String((await ns.exec(N, 'ip', ['-br', 'link', 'show', 'skbs0'])).stdout), /skbs0/);
    // Its process killed behind its back: the next run starts a new one.
    const pids = String((await execa('pgrep', ['-f', '-P', String(process.pid), 'ip -force -j -batch'])).stdout)
      .trim()
      .split('\n');
    assert.equal(pids.length, 1);
    process.kill(Number(pids[0]), 'SIGKILL');
    await until(
      'the dead session noticed',
      async () => {
        try {
          return (await ip.run(['link del skbs0'])) === '';
        } catch {
          return false;
        }
      },
      5_000,
    );
    assert.doesNotMatch(String((await ns.exec(N, 'ip', ['-br', 'link'])).stdout), /skbs0/);
  } finally {
    ip.close();
    await ns.cleanup();
  }
});
