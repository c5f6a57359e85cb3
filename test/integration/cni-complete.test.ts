// CNI 1.1 completeness through both ways the plugin runs: the production path (the agent's CNI
// socket, served by the agent's code inside a node namespace, reached by the installed static C
// client) and the standalone plugin. STATUS is "not ready" until the overlay's subnet.env exists;
// CHECK verifies interface, address, MTU and routes inside the pod's namespace; GC removes
// attachments not in the valid list; DEL succeeds when the namespace is already gone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { netnsSet } from '../helpers/netns.ts';
import { ROOT, tempDir } from '../helpers/server.ts';
import { until } from '../helpers/sandbox.ts';
import { installCni } from '../../agent/network/cni-install.ts';
import { hostVethName } from '../../cni/plugin.ts';

const SUBNET = '10.244.9.0/24';

test('CNI STATUS, CHECK, GC and DEL of a vanished namespace, through the agent socket and standalone', async () => {
  const ns = await netnsSet('cnis', ['node', 'a1', 'b1', 'a2', 'b2'], ['10.244.0.0/16']);
  const [node, ...pods] = ns.names;
  const data = tempDir('cnis');
  const bin = join(data, 'bin'),
    socket = join(data, 'cni.sock'),
    subnetFile = join(data, 'run', 'subnet.env');
  let server: ReturnType<typeof execa> | null = null;
  try {
    installCni(
      bin,
      join(data, 'conf'),
      { podCidr: SUBNET, mtu: 1450, bridge: 'skiff0', dataDir: join(data, 'ipam'), subnetFile },
      socket,
    );
    const list = JSON.parse(readFileSync(join(data, 'conf', '10-skiff.conflist'), 'utf8'));
    const conf = (extra: Record<string, unknown> = {}) =>
      JSON.stringify({ cniVersion: '1.1.0', name: list.name, ...list.plugins[0], ...extra });
    // The agent's CNI server, in the node's namespace as the agent runs it.
    server = execa(
      'nsenter',
      [
        `--net=/run/netns/${node}`,
        join(ROOT, 'node_modules/.bin/node'),
        '--disable-warning=ExperimentalWarning',
        '-e',
        `import(${JSON.stringify(join(ROOT, 'agent/network/cni-server.ts'))}).then((m) => ` +
          `m.startCniServer(${JSON.stringify(socket)}))`,
      ],
      { reject: false, all: true, env: { SKIFF_TRACE_CRI: '1' } },
    );
    let trace = '';
    server.all?.on('data', (d: Buffer) => (trace += d.toString()));
    await until('the CNI socket', async () => existsSync(socket), 15_000);
    const cni = async (plugin: string, command: string, stdin: string, env: Record<string, string> = {}) => {
      const r = await execa('nsenter', [`--net=/run/netns/${node}`, join(bin, plugin)], {
        input: stdin,
        reject: false,
        env: { CNI_COMMAND: command, CNI_PATH: bin, ...env },
      });
      // biome-ignore lint/suspicious/noExplicitAny: a result, version or error answer, or text, as each command gives
      let out: any = null;
      try {
        out = r.stdout ? JSON.parse(String(r.stdout)) : null;
      } catch {
        out = String(r.stdout);
      }
      return { code: r.exitCode, out };
    };
    const allocations = () => readdirSync(join(data, 'ipam', 'networks', 'skiff')).filter((f) => /^\d/.test(f));

    for (const plugin of ['skiff', 'skiff-node']) {
      const st = await cni(plugin, 'STATUS', conf());
      assert.equal(st.code, 1, `${plugin}: not ready before the overlay is programmed`);
      assert.equal(st.out.code, 50);
      assert.match(st.out.details, /subnet\.env/);
    }
    mkdirSync(join(data, 'run'), { recursive: true });
    writeFileSync(subnetFile, 'SKIFF_NETWORK=10.244.0.0/16\nSKIFF_SUBNET=10.244.9.1/24\nSKIFF_MTU=1450\n');
    for (const plugin of ['skiff', 'skiff-node']) assert.equal((await cni(plugin, 'STATUS', conf())).code, 0, plugin);

    for (const [i, plugin] of ['skiff', 'skiff-node'].entries()) {
      const podA = pods[i * 2],
        podB = pods[i * 2 + 1];
      const envA = { CNI_CONTAINERID: `${plugin}-a`, CNI_NETNS: `/run/netns/${podA}`, CNI_IFNAME: 'eth0' };
      const add = await cni(plugin, 'ADD', conf(), envA);
      assert.equal(add.code, 0, JSON.stringify(add));
      const prev = { prevResult: add.out };
      assert.equal((await cni(plugin, 'CHECK', conf(prev), envA)).code, 0, `${plugin}: CHECK of a good attachment`);
      // Break the pod's routes, then its MTU: CHECK says what is wrong.
      await ns.exec(podA, 'ip', ['route', 'del', 'default']);
      const noRoute = await cni(plugin, 'CHECK', conf(prev), envA);
      assert.equal(noRoute.code, 1);
      assert.match(noRoute.out.msg, /no default route via 10\.244\.9\.1 dev eth0/);
      await ns.exec(podA, 'ip', ['route', 'add', 'default', 'via', '10.244.9.1', 'dev', 'eth0']);
      await ns.exec(podA, 'ip', ['link', 'set', 'eth0', 'mtu', '1400']);
      assert.match((await cni(plugin, 'CHECK', conf(prev), envA)).out.msg, /MTU 1400, not 1450/);
      await ns.exec(podA, 'ip', ['addr', 'flush', 'dev', 'eth0']);
      assert.match((await cni(plugin, 'CHECK', conf(prev), envA)).out.msg, /does not carry 10\.244\.9\.\d+\/24/);

      // GC: an attachment not in the valid list goes (address and host veth).
      const envB = { CNI_CONTAINERID: `${plugin}-b`, CNI_NETNS: `/run/netns/${podB}`, CNI_IFNAME: 'eth0' };
      assert.equal((await cni(plugin, 'ADD', conf(), envB)).code, 0);
      const before = allocations().length;
      const gc = await cni(
        plugin,
        'GC',
        conf({ 'cni.dev/valid-attachments': [{ containerID: envB.CNI_CONTAINERID, ifname: 'eth0' }] }),
      );
      assert.equal(gc.code, 0, JSON.stringify(gc));
      assert.equal(allocations().length, before - 1);
      const hostLinks = String((await ns.exec(node, 'ip', ['-br', 'link'])).stdout);
      assert.ok(
        !hostLinks.includes(hostVethName(envA.CNI_CONTAINERID, 'eth0')),
        'the host end of the collected veth is gone',
      );
      assert.ok(hostLinks.includes(hostVethName(envB.CNI_CONTAINERID, 'eth0')));

      // DEL after the namespace is gone (a reboot): succeeds and frees the address.
      await execa('ip', ['netns', 'del', podB]);
      const del = await cni(plugin, 'DEL', conf(), envB);
      assert.equal(del.code, 0, JSON.stringify(del));
      assert.equal(allocations().length, before - 2);
      await execa('ip', ['netns', 'add', podB]);
    }
    assert.match(trace, /cni CHECK/, 'the C client reached the agent socket');
    assert.match(trace, /cni GC/);
  } finally {
    server?.kill('SIGKILL');
    await ns.cleanup();
    rmSync(data, { recursive: true, force: true });
  }
});
