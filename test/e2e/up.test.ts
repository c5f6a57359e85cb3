// `skiff up` (server and agent in one process, as on a VM), run inside a namespace made for the
// test with a dummy interface as the host's address: the node registers and becomes Ready.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync, rmSync } from 'node:fs';
import { execa } from 'execa';
import { sandboxName } from '../helpers/names.ts';
import { netnsSet } from '../helpers/netns.ts';
import { SKIFF, tempDir } from '../helpers/server.ts';
import { until } from '../helpers/sandbox.ts';
import { killPids, pidsMentioning, unmountUnder } from '../../agent/sandbox/cleanup.ts';

test('skiff up: one host runs server and agent, and its node is Ready', { timeout: 180_000 }, async () => {
  const ns = await netnsSet(sandboxName('up'), ['host'], ['10.244.0.0/16', '10.250.201.0/24']);
  const host = ns.names[0];
  const dir = tempDir('up');
  const kubeconfig = join(dir, 'admin.kubeconfig');
  let proc: ReturnType<typeof execa> | null = null;
  try {
    // The host's "NIC": a veth pair with both ends inside the namespace (no dummy module here).
    await execa('ip', ['-n', host, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1']);
    await execa('ip', ['-n', host, 'addr', 'add', '10.250.201.1/24', 'dev', 'd0']);
    await execa('ip', ['-n', host, 'link', 'set', 'd0', 'up']);
    await execa('ip', ['-n', host, 'link', 'set', 'd1', 'up']);
    proc = execa(
      'nsenter',
      [
        `--net=/run/netns/${host}`,
        SKIFF,
        'up',
        '--data-dir',
        dir,
        '--bind-address',
        '10.250.201.1',
        '--advertise-address',
        '10.250.201.1',
        '--node-name',
        'vm1',
        '--write-kubeconfig',
        kubeconfig,
        // subnet.env in the test's own directory, not the host's /run/skiff.
        '--run-dir',
        join(dir, 'run'),
      ],
      { reject: false, all: true },
    );
    let ready = false;
    for (let i = 0; i < 240 && !ready; i++) {
      const r = await ns.exec(host, 'kubectl', [
        '--kubeconfig',
        kubeconfig,
        'get',
        'node',
        'vm1',
        '-o',
        'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
      ]);
      ready = String(r.stdout) === 'True';
      if (!ready) await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(ready, 'node vm1 Ready');
    const n = await ns.exec(host, 'kubectl', [
      '--kubeconfig',
      kubeconfig,
      'get',
      'node',
      'vm1',
      '-o',
      'jsonpath={.status.addresses[0].address} {.spec.podCIDR}',
    ]);
    assert.equal(String(n.stdout), '10.250.201.1 10.244.0.0/24');
    await until('subnet.env in the run dir given', async () => existsSync(join(dir, 'run', 'subnet.env')), 30_000);
  } finally {
    if (proc) {
      proc.kill('SIGTERM');
      await proc;
    }
    await killPids(pidsMentioning(dir));
    await unmountUnder(dir);
    await ns.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
