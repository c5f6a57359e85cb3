// The lock between processes (controlplane/shared/dir-lock.ts): a dead holder's old lock is taken
// over and leaves nothing behind (also IPAM's, which shares the takeover); so is a lock of an
// earlier boot whose PID is alive again, and IPAM's lock left without a PID; a live holder's is
// never taken, however old; many waiters on one stale lock take it over once and then hold the
// lock one at a time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LockTimeoutError, withDirLock } from '../../controlplane/shared/dir-lock.ts';
import { parseCidr } from '../../controlplane/shared/cidr.ts';
import { Ipam } from '../../cni/ipam.ts';

/** Lock directories, moved-aside locks and guards left in dir (the addresses are files without a dot). */
const lockLeftovers = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('.'));

/** A lock made 20 s ago holding `stamp` in its pid file (none when undefined). */
function oldLock(dir: string, stamp: number | string | undefined): string {
  const lock = join(dir, '.lock');
  mkdirSync(lock);
  if (stamp !== undefined) writeFileSync(join(lock, 'pid'), String(stamp));
  const past = new Date(Date.now() - 20_000);
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
    assert.deepEqual(lockLeftovers(ipam.dir), [], 'no lock or moved-aside lock is left');
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});

const OTHER_BOOT = '00000000-0000-0000-0000-000000000000';

test('a lock of an earlier boot is taken over though its PID is alive now (the lock outlived a reboot)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dirlock-'));
  try {
    const lock = oldLock(dir, `${process.pid} ${OTHER_BOOT}`);
    assert.equal(await withDirLock(lock, () => 'ran', 2_000), 'ran');
    assert.deepEqual(readdirSync(dir), []);
    const ipam = new Ipam(dir, 'net', parseCidr('10.244.1.0/24'));
    mkdirSync(ipam.dir, { recursive: true });
    oldLock(ipam.dir, `${process.pid} ${OTHER_BOOT}`);
    assert.ok(await ipam.locked(() => ipam.allocate('c1', 'eth0')));
    assert.deepEqual(lockLeftovers(ipam.dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('IPAM: a lock left without a PID (its holder died after the mkdir) is taken over once old', async () => {
  const data = mkdtempSync(join(tmpdir(), 'ipamlock-'));
  try {
    const ipam = new Ipam(data, 'net', parseCidr('10.244.1.0/24'));
    mkdirSync(ipam.dir, { recursive: true });
    oldLock(ipam.dir, undefined);
    assert.ok(await ipam.locked(() => ipam.allocate('c1', 'eth0')));
    assert.deepEqual(lockLeftovers(ipam.dir), []);
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});

// Each child waits on the same stale lock, then holds it for a read-wait-write of a counter: the
// count comes out right only if no two children held the lock at once.
const CHILD = `
import { readFileSync, writeFileSync } from 'node:fs';
import { Ipam } from ${JSON.stringify(join(import.meta.dirname, '../../cni/ipam.ts'))};
import { parseCidr } from ${JSON.stringify(join(import.meta.dirname, '../../controlplane/shared/cidr.ts'))};
const [data, counter] = process.argv.slice(-2);
const ipam = new Ipam(data, 'net', parseCidr('10.244.1.0/24'));
await ipam.locked(async () => {
  const n = Number(readFileSync(counter, 'utf8'));
  await new Promise((r) => setTimeout(r, 1));
  writeFileSync(counter, String(n + 1));
});
`;

test('IPAM: twenty processes on one stale lock take it over once and hold the lock one at a time', async () => {
  const data = mkdtempSync(join(tmpdir(), 'ipamlock-'));
  try {
    const ipam = new Ipam(data, 'net', parseCidr('10.244.1.0/24'));
    mkdirSync(ipam.dir, { recursive: true });
    const dead = spawnSync('true').pid ?? 0;
    oldLock(ipam.dir, dead);
    const counter = join(data, 'counter');
    writeFileSync(counter, '0');
    const N = 20;
    const codes = await Promise.all(
      Array.from(
        { length: N },
        () =>
          new Promise<number | null>((ok) => {
            const c = spawn(
              process.execPath,
              ['--input-type=module', '--disable-warning=ExperimentalWarning', '-e', CHILD, data, counter],
              { stdio: ['ignore', 'ignore', 'inherit'] },
            );
            c.on('exit', ok);
          }),
      ),
    );
    assert.deepEqual(codes, Array(N).fill(0));
    assert.equal(Number(readFileSync(counter, 'utf8')), N, 'two children held the lock at once');
    assert.deepEqual(lockLeftovers(ipam.dir), []);
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});
