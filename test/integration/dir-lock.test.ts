// The lock between processes (controlplane/shared/dir-lock.ts), which IPAM uses too: a dead
// holder's old lock is taken over and nothing is left behind (also a dead waiter's claim); so is a
// lock of an earlier boot (by boot id, or made before this boot) whose PID is alive again, and an
// old lock without a readable stamp; a live holder's is never taken, however old, nor a young lock
// without a stamp; twenty processes waiting on one lock whose holder dies take it over and then
// hold it one at a time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { holderStamp, LockTimeoutError, withDirLock } from '../../controlplane/shared/dir-lock.ts';
import { parseCidr } from '../../controlplane/shared/cidr.ts';
import { Ipam } from '../../cni/ipam.ts';

/** Lock directories, moved-aside locks and guards left in dir (the addresses are files without a dot). */
const lockLeftovers = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('.'));

/** A lock made `ageMs` ago holding `stamp` in its pid file (none when undefined). */
function oldLock(dir: string, stamp: number | string | undefined, ageMs = 20_000): string {
  const lock = join(dir, '.lock');
  mkdirSync(lock);
  if (stamp !== undefined) writeFileSync(join(lock, 'pid'), String(stamp));
  const past = new Date(Date.now() - ageMs);
  utimesSync(lock, past, past);
  return lock;
}

test('a dead holder’s lock is taken over; nothing is left after, not even a dead waiter’s claim', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dirlock-'));
  try {
    const dead = spawnSync('true').pid ?? 0;
    assert.ok(dead > 0);
    const lock = oldLock(dir, dead);
    mkdirSync(`${lock}.${dead}.7`); // the claim of a waiter that was killed
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
  for (const stamp of [holderStamp(), String(process.pid)]) {
    const dir = mkdtempSync(join(tmpdir(), 'dirlock-'));
    try {
      const lock = oldLock(dir, stamp);
      await assert.rejects(
        withDirLock(lock, () => assert.fail(`ran under a live holder (${stamp})`), 300),
        (e: Error) => e instanceof LockTimeoutError && e.message.includes(`PID ${process.pid}`),
      );
      assert.deepEqual(readdirSync(dir), ['.lock']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('a lock without a readable stamp: left alone while young, taken over once old', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dirlock-'));
  try {
    // (An empty lock directory is replaced by the claim's rename at once: locks never stand empty.)
    const young = oldLock(dir, '', 5_000);
    await assert.rejects(
      withDirLock(young, () => assert.fail('took a young lock'), 300),
      LockTimeoutError,
    );
    rmSync(young, { recursive: true });
    for (const stamp of [undefined, '', 'junk']) {
      const lock = oldLock(dir, stamp);
      assert.equal(await withDirLock(lock, () => 'ran', 2_000), 'ran', `stamp ${JSON.stringify(stamp)}`);
      assert.deepEqual(readdirSync(dir), []);
    }
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
    // A stamp without a boot id (an older version's) on a lock made before this boot.
    const btime = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
    oldLock(dir, process.pid, Date.now() - (btime - 60) * 1000);
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

// Each child says it is about to wait, waits for the lock, then holds it for a read-wait-write of
// a counter: the count comes out right only if no two children held the lock at once.
const CHILD = `
import { readFileSync, writeFileSync } from 'node:fs';
import { Ipam } from ${JSON.stringify(join(import.meta.dirname, '../../cni/ipam.ts'))};
import { parseCidr } from ${JSON.stringify(join(import.meta.dirname, '../../controlplane/shared/cidr.ts'))};
const [data, counter] = process.argv.slice(-2);
const ipam = new Ipam(data, 'net', parseCidr('10.244.1.0/24'));
writeFileSync(\`\${data}/waiting-\${process.pid}\`, '');
await ipam.locked(async () => {
  const n = Number(readFileSync(counter, 'utf8'));
  await new Promise((r) => setTimeout(r, 1));
  writeFileSync(counter, String(n + 1));
});
`;

test('IPAM: twenty waiters on a lock whose holder dies take it over, then hold it one at a time', async () => {
  const data = mkdtempSync(join(tmpdir(), 'ipamlock-'));
  const holder = spawn('sleep', ['600'], { stdio: 'ignore' });
  try {
    const ipam = new Ipam(data, 'net', parseCidr('10.244.1.0/24'));
    mkdirSync(ipam.dir, { recursive: true });
    oldLock(ipam.dir, holder.pid);
    const counter = join(data, 'counter');
    writeFileSync(counter, '0');
    const N = 20;
    const exits = Array.from(
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
    );
    // All wait on the live holder's lock; then it dies, and all see it stale within a poll.
    const deadline = Date.now() + 120_000;
    while (readdirSync(data).filter((f) => f.startsWith('waiting-')).length < N) {
      assert.ok(Date.now() < deadline, 'the children did not all start');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(Number(readFileSync(counter, 'utf8')), 0, 'a child ran under the live holder');
    holder.kill('SIGKILL');
    assert.deepEqual(await Promise.all(exits), Array(N).fill(0));
    assert.equal(Number(readFileSync(counter, 'utf8')), N, 'two children held the lock at once');
    assert.deepEqual(lockLeftovers(ipam.dir), []);
  } finally {
    if (holder.exitCode === null && holder.signalCode === null) holder.kill('SIGKILL');
    rmSync(data, { recursive: true, force: true });
  }
});
