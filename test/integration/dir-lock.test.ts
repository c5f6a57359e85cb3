// The lock between processes (controlplane/shared/dir-lock.ts): a dead holder's old lock is taken
// over and leaves nothing behind (also IPAM's, which shares the takeover); a live holder's is
// never taken, however old.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LockTimeoutError, withDirLock } from '../../controlplane/shared/dir-lock.ts';
import { parseCidr } from '../../controlplane/shared/cidr.ts';
import { Ipam } from '../../cni/ipam.ts';

function oldLock(dir: string, pid: number): string {
  const lock = join(dir, '.lock');
  mkdirSync(lock);
  writeFileSync(join(lock, 'pid'), String(pid));
  const past = new Date(Date.now() - 10_000);
  utimesSync(lock, past, past);
  return lock;
}

test('a dead holder: its lock is taken over, and nothing is left beside the released lock', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dirlock-'));
  try {
    const dead = spawnSync('true').pid ?? 0;
    assert.ok(dead > 0);
    const lock = oldLock(dir, dead);
    let ran = false;
    await withDirLock(
      lock,
      () => {
        ran = true;
      },
      5_000,
    );
    assert.equal(ran, true);
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a live holder: its lock is not taken, however old; the waiter times out with the holder named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dirlock-'));
  try {
    const lock = oldLock(dir, process.pid);
    await assert.rejects(
      withDirLock(lock, () => assert.fail('ran under a live holder'), 300),
      (e: Error) => e instanceof LockTimeoutError && e.message.includes(`PID ${process.pid}`),
    );
    assert.deepEqual(readdirSync(dir), ['.lock']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('IPAM: a dead holder’s old lock is taken over and leaves nothing beside the addresses', async () => {
  const data = mkdtempSync(join(tmpdir(), 'ipamlock-'));
  try {
    const ipam = new Ipam(data, 'net', parseCidr('10.244.1.0/24'));
    mkdirSync(ipam.dir, { recursive: true });
    const dead = spawnSync('true').pid ?? 0;
    assert.ok(dead > 0);
    oldLock(ipam.dir, dead);
    const ip = await ipam.locked(() => ipam.allocate('c1', 'eth0'));
    assert.ok(ip);
    assert.deepEqual(
      readdirSync(ipam.dir).filter((f) => f.startsWith('.')),
      [],
      'no lock or moved-aside lock is left',
    );
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});
