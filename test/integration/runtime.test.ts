// A node's own containerd inside a network namespace made for the test: CRI answers, the
// built-in images exist, a pod sandbox gets an address from the Skiff CNI plugin and a busybox
// httpd in it answers HTTP from the node's namespace; containerd killed with -9 comes back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readdirSync, rmSync } from 'node:fs';
import { netnsSet } from '../helpers/netns.ts';
import { tempDir } from '../helpers/server.ts';
import { startRuntime } from '../../agent/runtime.ts';
import {
  removeAllPods,
  pidsMentioning,
  pidsOfContainersUnder,
  killPids,
  unmountUnder,
  mountsUnder,
} from '../../agent/sandbox/cleanup.ts';
import { BUSYBOX_IMAGE, PAUSE_IMAGE } from '../../agent/images/builtin.ts';
import type { Link } from '../../cni/netlink.ts';

test('containerd under the agent: CRI, images, a pod on the Skiff CNI serving HTTP, restart after kill -9, 100 ' +
  'concurrent sandboxes', {
  // 110 s alone; in CI beside another file, 100 plugin processes at once took over 300 s.
  timeout: 600_000,
}, async () => {
  const ns = await netnsSet('rt', ['node'], ['10.244.0.0/16']);
  const node = ns.names[0];
  const dir = tempDir('runtime');
  let rt: Awaited<ReturnType<typeof startRuntime>> | null = null;
  try {
    rt = await startRuntime({
      dataDir: join(dir, 'agent'),
      podCidr: '10.244.9.0/24',
      mtu: 1500,
      imageCache: join(dir, 'images'),
      wrap: ['nsenter', `--net=/run/netns/${node}`],
    });
    const v = await rt.cri.version();
    assert.equal(v.runtime_name, 'containerd');
    assert.equal(v.runtime_api_version, 'v1');
    const st = await rt.cri.status();
    const cond = Object.fromEntries((st.status?.conditions ?? []).map((c) => [c.type, c.status]));
    assert.equal(cond.RuntimeReady, true);
    assert.equal(cond.NetworkReady, true, JSON.stringify(st.status));
    for (const img of [PAUSE_IMAGE, BUSYBOX_IMAGE]) assert.ok((await rt.cri.imageStatus(img)).image, `${img} imported`);

    const sandboxConfig = {
      metadata: { name: 'web', uid: 'uid-web', namespace: 'default', attempt: 0 },
      hostname: 'web',
      log_directory: join(dir, 'logs', 'web'),
      linux: {
        cgroup_parent: '/skiff-test/podweb',
        security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } },
      },
    };
    const { pod_sandbox_id: id } = await rt.cri.runPodSandbox(sandboxConfig);
    const status = await rt.cri.podSandboxStatus(id);
    const ip = status.status.network.ip;
    assert.match(ip, /^10\.244\.9\.\d+$/, 'address from the node subnet');
    const { container_id: cid } = await rt.cri.createContainer(
      id,
      {
        metadata: { name: 'httpd', attempt: 0 },
        image: { image: BUSYBOX_IMAGE },
        command: ['httpd', '-f', '-p', '8080', '-h', '/var/www'],
        log_path: 'httpd/0.log',
        linux: {
          resources: {},
          security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } },
        },
      },
      sandboxConfig,
    );
    await rt.cri.startContainer(cid);
    let body = '';
    for (let i = 0; i < 50 && !body.includes('skiff busybox httpd'); i++) {
      const r = await ns.exec(node, 'busybox', ['wget', '-q', '-O', '-', `http://${ip}:8080/`]);
      body = String(r.stdout);
      if (!body) await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(body, /skiff busybox httpd/, 'the pod answers HTTP from the node namespace');
    const exec = await rt.cri.execSync(cid, ['sh', '-c', 'hostname; ip -o -4 addr show eth0'], 10);
    assert.equal(exec.exit_code, 0);
    assert.match(exec.stdout.toString(), new RegExp(`web\\n[\\s\\S]*${ip.replace(/\./g, '\\.')}`));

    // kill -9 of containerd: the supervisor notices and starts it again; the pod survives.
    const before = rt.supervisor!.pid!;
    process.kill(before, 'SIGKILL');
    const end = Date.now() + 30_000;
    while ((rt.supervisor!.pid === before || !(await rt.supervisor!.ready())) && Date.now() < end)
      await new Promise((r) => setTimeout(r, 100));
    assert.notEqual(rt.supervisor!.pid, before, 'a new containerd');
    assert.equal(rt.supervisor!.restarts, 1);
    const again = await rt.cri.containerStatus(cid);
    assert.equal(again.status.state, 'CONTAINER_RUNNING', 'the container kept running across the restart');

    await rt.cri.stopContainer(cid, 1);
    await rt.cri.removeContainer(cid);
    await rt.cri.stopPodSandbox(id);
    await rt.cri.removePodSandbox(id);
    const links = JSON.parse(String((await ns.exec(node, 'ip', ['-j', 'link', 'show'])).stdout))
      .map((l: Link) => l.ifname)
      .sort();
    assert.deepEqual(links, ['lo', 'skiff0'], 'the veth went with the sandbox');

    // 100 sandboxes at once through CRI: distinct addresses; after removal nothing is left.
    const cfgs = Array.from({ length: 100 }, (_, i) => ({
      metadata: { name: `many-${i}`, uid: `uid-many-${i}`, namespace: 'default', attempt: 0 },
      log_directory: join(dir, 'logs', `many-${i}`),
      linux: { cgroup_parent: `/skiff-test/podmany${i}` },
    }));
    const ids = await Promise.all(cfgs.map((c) => rt!.cri.runPodSandbox(c).then((r) => r.pod_sandbox_id)));
    const ips = await Promise.all(ids.map(async (i) => (await rt!.cri.podSandboxStatus(i)).status.network.ip));
    assert.equal(new Set(ips).size, 100, 'no duplicate address');
    assert.ok(ips.every((x) => /^10\.244\.9\.\d+$/.test(x)));
    await Promise.all(
      ids.map(async (i) => {
        await rt!.cri.stopPodSandbox(i);
        await rt!.cri.removePodSandbox(i);
      }),
    );
    const after = JSON.parse(String((await ns.exec(node, 'ip', ['-j', 'link', 'show'])).stdout))
      .map((l: Link) => l.ifname)
      .sort();
    assert.deepEqual(after, ['lo', 'skiff0'], 'no leaked veth');
    const ipam = join(dir, 'agent', 'cni', 'ipam', 'networks', 'skiff');
    assert.deepEqual(
      readdirSync(ipam).filter((f) => /^\d/.test(f)),
      [],
      'no leaked IPAM file',
    );
    assert.deepEqual(
      mountsUnder(join(dir, 'agent', 'containerd', 'state')).filter((m) => m.includes('netns')),
      [],
      'no leaked netns',
    );
    assert.equal((await rt.cri.listPodSandbox()).items.length, 0);
  } finally {
    if (rt) {
      await removeAllPods(rt.socket);
      await rt.stop();
    }
    await killPids(pidsMentioning(dir));
    await killPids(pidsOfContainersUnder(dir)); // containers whose shim went first
    await unmountUnder(dir);
    await ns.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
