// `skiff reset` leaves the host as it found it: inside a namespace made for the test, a snapshot
// of links, routes, the nft ruleset, mounts and files is taken before `skiff up`; after up, a
// Ready node and a running pod with a hostPort (so Skiff's nft table exists), `reset --keep-data`
// restores everything but the data, and `reset` restores the snapshot exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { execa } from 'execa';
import { sandboxName } from '../helpers/names.ts';
import { netnsSet, type NetnsSet } from '../helpers/netns.ts';
import { SKIFF, tempDir } from '../helpers/server.ts';
import { killPids, pidsMentioning, unmountUnder } from '../../agent/sandbox/cleanup.ts';

function files(dir: string, out: string[] = []): string[] {
  for (const f of readdirSync(dir).sort()) {
    const p = join(dir, f);
    out.push(p);
    if (statSync(p).isDirectory()) files(p, out);
  }
  return out;
}

async function snapshot(ns: NetnsSet, host: string, root: string) {
  const sh = async (cmd: string, args: string[]) => String((await ns.exec(host, cmd, args)).stdout);
  const links = (JSON.parse(await sh('ip', ['-j', '-d', 'link', 'show'])) as { ifname: string; flags: string[] }[])
    .map((l) => `${l.ifname} ${l.flags.join(',')}`)
    .sort();
  return {
    links,
    routes: await sh('ip', ['route', 'show', 'table', 'all']),
    neigh: await sh('ip', ['neigh', 'show']),
    nft: await sh('nft', ['list', 'ruleset']),
    mounts: readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((m) => m?.startsWith(root))
      .sort(),
    files: files(root),
    // Pod cgroups live outside the namespace: the node's parent in every hierarchy.
    cgroups: readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => / - cgroup2? /.test(l))
      .map((l) => join(l.split(' ')[4], 'skiff-vgt-un1'))
      .filter((p) => existsSync(p)),
  };
}

async function until(what: string, ms: number, check: () => Promise<boolean>) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.fail(`${what} within ${ms / 1000} s`);
}

test('skiff reset removes every change skiff up made to the host', { timeout: 360_000 }, async () => {
  const ns = await netnsSet(sandboxName('uninst'), ['host'], ['10.244.0.0/16', '10.250.202.0/24']);
  const host = ns.names[0];
  const root = tempDir('uninst');
  const dir = join(root, 'var-lib-skiff');
  const kubeconfig = join(root, 'etc', 'skiff', 'admin.kubeconfig');
  const localPath = join(root, 'local-path');
  // The agent's run dir (subnet.env) inside the snapshot, not the host's /run/skiff.
  const runDir = join(root, 'run');
  mkdirSync(join(root, 'etc'));
  mkdirSync(runDir);
  let proc: ReturnType<typeof execa> | null = null;
  const kubectl = (args: string[]) => ns.exec(host, 'kubectl', ['--kubeconfig', kubeconfig, ...args]);
  const reset = async (extra: string[]) => {
    const r = await execa(
      'nsenter',
      [
        `--net=/run/netns/${host}`,
        SKIFF,
        'reset',
        '--data-dir',
        dir,
        '--write-kubeconfig',
        kubeconfig,
        '--local-path-root',
        localPath,
        '--run-dir',
        runDir,
        ...extra,
      ],
      { reject: false, all: true, timeout: 120_000 },
    );
    assert.equal(r.exitCode, 0, String(r.all));
    return String(r.all);
  };
  try {
    // The host's "NIC": a veth pair with both ends inside the namespace (no dummy module here).
    // No IPv6 link-local addresses: they would appear (after DAD) between two snapshots.
    await ns.exec(host, 'sysctl', ['-qw', 'net.ipv6.conf.default.addr_gen_mode=1']);
    await execa('ip', ['-n', host, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1']);
    await execa('ip', ['-n', host, 'addr', 'add', '10.250.202.1/24', 'dev', 'd0']);
    await execa('ip', ['-n', host, 'link', 'set', 'd0', 'up']);
    await execa('ip', ['-n', host, 'link', 'set', 'd1', 'up']);
    // The "NIC" settles (carrier, IPv6 multicast routes) before the first snapshot.
    await until('host NIC up', 20_000, async () => {
      const r = String((await ns.exec(host, 'ip', ['route', 'show', 'table', 'all'])).stdout);
      return !/linkdown/.test(r) && /ff00::\/8 dev d0/.test(r) && /ff00::\/8 dev d1/.test(r);
    });
    const before = await snapshot(ns, host, root);

    proc = execa(
      'nsenter',
      [
        `--net=/run/netns/${host}`,
        SKIFF,
        'up',
        '--data-dir',
        dir,
        '--advertise-address',
        '10.250.202.1',
        '--node-name',
        'vgt-un1',
        '--write-kubeconfig',
        kubeconfig,
        '--local-path-root',
        localPath,
        '--run-dir',
        runDir,
      ],
      { reject: false, all: true },
    );
    await until('node vgt-un1 Ready', 180_000, async () => {
      const r = await kubectl([
        'get',
        'node',
        'vgt-un1',
        '-o',
        'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
      ]);
      return String(r.stdout) === 'True';
    });
    // Bound to every address, the kubeconfig names the advertised one (and the certificate too:
    // kubectl verified it).
    assert.match(readFileSync(kubeconfig, 'utf8'), /server: https:\/\/10\.250\.202\.1:6443/);
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        containers: [
          {
            name: 'web',
            image: 'skiff.local/busybox:1.36',
            command: ['httpd', '-f', '-p', '80', '-h', '/'],
            ports: [{ containerPort: 80, hostPort: 8080 }],
            volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }],
          },
        ],
        volumes: [{ name: 'scratch', emptyDir: { medium: 'Memory' } }],
      },
    };
    const applied = await execa(
      'nsenter',
      [`--net=/run/netns/${host}`, 'kubectl', '--kubeconfig', kubeconfig, 'apply', '-f', '-'],
      { input: JSON.stringify(pod), reject: false },
    );
    assert.equal(applied.exitCode, 0, String(applied.stderr));
    await until('pod web Running', 120_000, async () => {
      const r = await kubectl(['get', 'pod', 'web', '-o', 'jsonpath={.status.phase}']);
      return String(r.stdout) === 'Running';
    });
    const during = await snapshot(ns, host, root);
    // The test can fail: up changed every part of the snapshot.
    assert.ok(during.links.some((l) => l.startsWith('skiff0 ')));
    assert.ok(during.links.some((l) => l.startsWith('veth')));
    assert.match(during.nft, /table ip skiff-hostport/);
    assert.ok(during.mounts.length > before.mounts.length);
    assert.notDeepEqual(during.routes, before.routes);
    assert.ok(during.cgroups.length > 0, 'pod cgroups exist');
    assert.ok(existsSync(join(runDir, 'subnet.env')), 'the overlay wrote subnet.env into --run-dir');
    assert.ok(existsSync(join(runDir, 'egress.nft')), 'the overlay saved the egress listing into --run-dir');

    // --keep-data: processes, network and mounts go; the data stays.
    const kept = await reset(['--keep-data']);
    assert.match(kept, /data kept/);
    await proc;
    proc = null;
    const afterKeep = await snapshot(ns, host, root);
    assert.deepEqual(
      { ...afterKeep, files: null },
      { ...before, files: null },
      'keep-data: network and mounts as before',
    );
    assert.ok(existsSync(join(dir, 'server', 'tls', 'ca.crt')), 'keep-data keeps the server state');
    assert.ok(!existsSync(join(runDir, 'subnet.env')), 'subnet.env names a network that is gone');
    assert.ok(!existsSync(join(runDir, 'egress.nft')), 'the egress listing describes a table that is gone');
    assert.equal(pidsMentioning(dir).length, 0, 'no process of this host is left');

    await reset([]);
    assert.deepEqual(await snapshot(ns, host, root), before);
  } finally {
    if (proc) {
      proc.kill('SIGTERM');
      await proc;
    }
    await killPids(pidsMentioning(dir));
    await unmountUnder(root);
    await ns.cleanup();
    rmSync(root, { recursive: true, force: true });
  }
});
