// The Skiff CNI plugin against the real kernel: node and pod network namespaces made for the
// test (no link to the machine's interfaces), the plugin run inside the node namespace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readdirSync, rmSync } from 'node:fs';
import { execa } from 'execa';
import { netnsSet } from '../helpers/netns.ts';
import { ROOT, tempDir } from '../helpers/server.ts';
import type { Link } from '../../cni/netlink.ts';

const PLUGIN = join(ROOT, 'cni/bin/skiff-cni');
const SUBNET = '10.244.7.0/24';

function conf(dataDir: string, extra: Record<string, unknown> = {}) {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: 'skiff',
    type: 'skiff',
    bridge: 'skiff0',
    subnet: SUBNET,
    mtu: 1450,
    dataDir,
    ...extra,
  });
}

async function cni(nodeNs: string, command: string, stdin: string, env: Record<string, string> = {}) {
  const r = await execa('nsenter', [`--net=/run/netns/${nodeNs}`, PLUGIN], {
    input: stdin,
    reject: false,
    env: { CNI_COMMAND: command, CNI_PATH: join(ROOT, 'cni/bin'), ...env },
  });
  // biome-ignore lint/suspicious/noExplicitAny: a result, version or error answer, or text, as each command gives
  let out: any = null;
  try {
    out = r.stdout ? JSON.parse(String(r.stdout)) : null;
  } catch {
    out = String(r.stdout);
  }
  return { code: r.exitCode, out, stderr: String(r.stderr) };
}

test('CNI plugin: ADD, CHECK, DEL (twice), GC, STATUS, errors; 100 concurrent ADDs', { timeout: 300_000 }, async () => {
  const pods = Array.from({ length: 100 }, (_, i) => `p${i}`);
  const ns = await netnsSet('cni', ['node', ...pods], ['10.244.0.0/16']);
  const node = ns.names[0];
  const podNs = ns.names.slice(1);
  const data = tempDir('cni');
  try {
    // One pod, step by step.
    const env0 = { CNI_CONTAINERID: 'c0', CNI_NETNS: `/run/netns/${podNs[0]}`, CNI_IFNAME: 'eth0' };
    const add = await cni(node, 'ADD', conf(data), env0);
    assert.equal(add.code, 0, JSON.stringify(add));
    assert.equal(add.out.ips[0].address, '10.244.7.2/24');
    assert.equal(add.out.ips[0].gateway, '10.244.7.1');
    assert.equal(add.out.interfaces[2].sandbox, env0.CNI_NETNS);
    const addr = await ns.exec(podNs[0], 'ip', ['-j', 'addr', 'show', 'dev', 'eth0']);
    const info = (JSON.parse(String(addr.stdout)) as Link[])[0];
    assert.equal(info.mtu, 1450);
    assert.ok(info.addr_info?.some((a) => a.local === '10.244.7.2'));
    const route = await ns.exec(podNs[0], 'ip', ['route', 'show', 'default']);
    assert.match(String(route.stdout), /default via 10\.244\.7\.1 dev eth0/);
    const ping = await ns.exec(podNs[0], 'busybox', ['ping', '-c', '1', '-W', '2', '10.244.7.1']);
    assert.equal(ping.exitCode, 0, 'the pod reaches its gateway on the bridge');
    const hairpin = await ns.exec(node, 'bridge', ['-j', '-d', 'link', 'show']);
    assert.ok(
      (JSON.parse(String(hairpin.stdout)) as { hairpin?: boolean }[]).every((l) => l.hairpin === true),
      'hairpin on every bridge port',
    );
    const check = await cni(node, 'CHECK', conf(data, { prevResult: add.out }), env0);
    assert.equal(check.code, 0, JSON.stringify(check));
    const again = await cni(node, 'ADD', conf(data), env0);
    assert.equal(again.code, 0, 'a repeated ADD rebuilds the attachment');
    assert.equal(again.out.ips[0].address, '10.244.7.2/24', 'with the same address');
    assert.match(String((await ns.exec(podNs[0], 'ip', ['addr', 'show', 'dev', 'eth0'])).stdout), /10\.244\.7\.2\/24/);

    for (let i = 0; i < 2; i++) {
      const del = await cni(node, 'DEL', conf(data), env0);
      assert.equal(del.code, 0, `DEL #${i + 1}: ${JSON.stringify(del)}`);
    }
    const gone = await cni(node, 'DEL', conf(data), { ...env0, CNI_NETNS: '/run/netns/does-not-exist' });
    assert.equal(gone.code, 0, 'DEL with a missing netns is fine');

    // Errors are CNI error JSON with the spec's codes and a non-zero exit.
    const bad: [string, string, Record<string, string>, number][] = [
      ['ADD', '{not json', env0, 6],
      ['ADD', JSON.stringify({ cniVersion: '0.1.0', name: 'x' }), env0, 1],
      ['ADD', conf(data, { subnet: 'banana' }), env0, 7],
      ['ADD', conf(data), { ...env0, CNI_NETNS: '/run/netns/nope' }, 3],
      ['ADD', conf(data), { CNI_IFNAME: 'eth0' }, 4],
      ['FROB', conf(data), env0, 4],
    ];
    for (const [cmd, stdin, env, code] of bad) {
      const r = await cni(node, cmd, stdin, env);
      assert.notEqual(r.code, 0);
      assert.equal(r.out.code, code, `${cmd} ${stdin}: ${JSON.stringify(r.out)}`);
      assert.ok(typeof r.out.msg === 'string' && r.out.msg.length > 0);
      assert.ok(!/\n\s+at /.test(JSON.stringify(r.out) + r.stderr), 'no stack trace');
    }
    assert.equal((await cni(node, 'STATUS', conf(data), {})).code, 0);
    assert.equal((await cni(node, 'VERSION', '', {})).out.supportedVersions.includes('1.1.0'), true);

    // 100 ADDs at once: distinct addresses; then DEL all: nothing left.
    const envs = podNs.map((p, i) => ({ CNI_CONTAINERID: `c${i}`, CNI_NETNS: `/run/netns/${p}`, CNI_IFNAME: 'eth0' }));
    const results = await Promise.all(envs.map((e) => cni(node, 'ADD', conf(data), e)));
    for (const r of results) assert.equal(r.code, 0, JSON.stringify(r));
    const ips = results.map((r) => r.out.ips[0].address);
    assert.equal(new Set(ips).size, 100, 'no address handed out twice');
    const netDir = join(data, 'networks', 'skiff');
    assert.equal(readdirSync(netDir).filter((f) => /^\d/.test(f)).length, 100);
    // GC keeps what is valid and frees the rest.
    const valid = envs.slice(0, 60).map((e) => ({ containerID: e.CNI_CONTAINERID, ifname: 'eth0' }));
    const gc = await cni(node, 'GC', conf(data, { 'cni.dev/valid-attachments': valid }), {});
    assert.equal(gc.code, 0, JSON.stringify(gc));
    assert.equal(readdirSync(netDir).filter((f) => /^\d/.test(f)).length, 60);
    const dels = await Promise.all(envs.map((e) => cni(node, 'DEL', conf(data), e)));
    for (const r of dels) assert.equal(r.code, 0, JSON.stringify(r));
    assert.equal(readdirSync(netDir).filter((f) => /^\d/.test(f)).length, 0, 'no IPAM file leaked');
    const links = (JSON.parse(String((await ns.exec(node, 'ip', ['-j', 'link', 'show'])).stdout)) as Link[]).map(
      (l) => l.ifname,
    );
    assert.deepEqual(links.sort(), ['lo', 'skiff0'], 'no veth leaked');
  } finally {
    await ns.cleanup();
    rmSync(data, { recursive: true, force: true });
  }
});
