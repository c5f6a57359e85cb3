// CNI benchmark: RunPodSandbox latency (which includes CNI ADD) and Stop+Remove (CNI DEL) for
// 50 sandboxes each, with the Skiff plugin and with Debian's bridge + host-local plugins under
// the same containerd, side by side; then the RSS of a running agent (1-node sandbox).
// Everything happens inside network namespaces made for the run, behind blackhole routes.
// Usage: node bench/cni.ts [--pods 50]
import { join } from 'node:path';
import { rmSync, symlinkSync, unlinkSync, writeFileSync, readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execa } from 'execa';
import { netnsSet } from '../test/helpers/netns.ts';
import { startRuntime } from '../agent/runtime.ts';
import { removeAllPods, killPids, pidsMentioning, unmountUnder } from '../agent/sandbox/cleanup.ts';
import { loadState } from '../agent/sandbox/sandbox.ts';
import { SKIFF } from '../test/helpers/server.ts';

const args = process.argv.slice(2);
const PODS = Number(args[args.indexOf('--pods') + 1]) || 50;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

const ns = await netnsSet('bench-cni', ['node'], ['10.244.0.0/16']);
const dir = mkdtempSync(join(tmpdir(), 'skiff-bench-cni-'));
const results: Record<string, { add: number[]; del: number[] }> = {};
try {
  const rt = await startRuntime({
    dataDir: join(dir, 'agent'),
    podCidr: '10.244.20.0/24',
    mtu: 1500,
    imageCache: '/var/lib/skiff/images',
    wrap: ['nsenter', `--net=/run/netns/${ns.names[0]}`],
  });
  const bin = join(dir, 'agent', 'cni', 'bin'),
    conf = join(dir, 'agent', 'cni', 'conf');
  const skiffLoopback = readFileSync(join(bin, 'loopback'));
  for (const plugin of ['skiff', 'debian']) {
    rmSync(join(conf, '10-skiff.conflist'), { force: true });
    rmSync(join(conf, '10-debian.conflist'), { force: true });
    unlinkSync(join(bin, 'loopback'));
    if (plugin === 'debian') {
      for (const p of ['bridge', 'host-local']) {
        rmSync(join(bin, p), { force: true });
        symlinkSync(`/usr/lib/cni/${p}`, join(bin, p));
      }
      symlinkSync('/usr/lib/cni/loopback', join(bin, 'loopback'));
      writeFileSync(
        join(conf, '10-debian.conflist'),
        JSON.stringify({
          cniVersion: '1.0.0',
          name: 'debian',
          plugins: [
            {
              type: 'bridge',
              bridge: 'cni0',
              isGateway: true,
              hairpinMode: true,
              ipam: { type: 'host-local', subnet: '10.244.21.0/24', dataDir: join(dir, 'host-local') },
            },
          ],
        }),
      );
    } else {
      writeFileSync(join(bin, 'loopback'), skiffLoopback, { mode: 0o755 });
      writeFileSync(
        join(conf, '10-skiff.conflist'),
        JSON.stringify({
          cniVersion: '1.0.0',
          name: 'skiff',
          plugins: [
            { type: 'skiff', bridge: 'skiff0', subnet: '10.244.20.0/24', mtu: 1500, dataDir: join(dir, 'ipam') },
          ],
        }),
      );
    }
    await new Promise((r) => setTimeout(r, 1500)); // containerd reloads CNI config on change
    const add: number[] = [],
      del: number[] = [];
    for (let i = 0; i < PODS; i++) {
      const cfg = {
        metadata: { name: `b${i}`, uid: `${plugin}-${i}`, namespace: 'bench', attempt: 0 },
        log_directory: join(dir, 'logs'),
        linux: { cgroup_parent: `/skiff-bench/${plugin}${i}` },
      };
      let t = performance.now();
      const { pod_sandbox_id: id } = await rt.cri.runPodSandbox(cfg);
      add.push(performance.now() - t);
      t = performance.now();
      await rt.cri.stopPodSandbox(id);
      await rt.cri.removePodSandbox(id);
      del.push(performance.now() - t);
    }
    results[plugin] = { add, del };
  }
  await removeAllPods(rt.socket);
  await rt.stop();
} finally {
  await killPids(pidsMentioning(dir));
  await unmountUnder(dir);
  await ns.cleanup();
  rmSync(dir, { recursive: true, force: true });
}

const row = (name: string, r: { add: number[]; del: number[] }) =>
  `${name.padEnd(22)} RunPodSandbox p50 ${pct(r.add, 50).toFixed(0).padStart(4)} ms ` +
  `p99 ${pct(r.add, 99).toFixed(0).padStart(4)} ms | Stop+Remove ` +
  `p50 ${pct(r.del, 50).toFixed(0).padStart(4)} ms p99 ${pct(r.del, 99).toFixed(0).padStart(4)} ms`;
console.log(`CNI benchmark: ${PODS} sandboxes each, one at a time, same containerd`);
console.log(row('skiff (Node plugin)', results.skiff));
console.log(row('debian bridge+host-local', results.debian));
console.log(
  `ratio skiff/debian RunPodSandbox ` +
    `p50: ${(pct(results.skiff.add, 50) / pct(results.debian.add, 50)).toFixed(2)}, Stop+Remove ` +
    `p50: ${(pct(results.skiff.del, 50) / pct(results.debian.del, 50)).toFixed(2)}`,
);

// Agent RSS in a one-node sandbox.
const up = await execa(SKIFF, ['sandbox', 'up', '--name', 'benchrss', '--nodes', '1'], { reject: false, all: true });
try {
  if (up.exitCode !== 0) throw new Error(String(up.all));
  const s = loadState('benchrss')!;
  await new Promise((r) => setTimeout(r, 5000));
  const rss = (pid: number) =>
    Number((readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/) ?? [])[1] ?? 0) / 1024;
  const agent = s.pids.find((p) => p.role.startsWith('agent'))!.pid;
  const server = s.pids.find((p) => p.role === 'server')!.pid;
  const ctrd = Number(readFileSync(join(s.dir, 'node1', 'containerd', 'containerd.pid'), 'utf8'));
  console.log(
    `RSS: agent ${rss(agent).toFixed(0)} MiB, its containerd ${rss(ctrd).toFixed(0)} MiB, ` +
      `server ${rss(server).toFixed(0)} MiB (idle node, no pods)`,
  );
} finally {
  await execa(SKIFF, ['sandbox', 'down', '--name', 'benchrss'], { reject: false });
}
