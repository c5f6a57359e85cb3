// A lock between processes on one host: a directory that appears, by one rename, already holding
// its holder's stamp (PID and the kernel's boot id), and is released by being renamed away whole.
// So a lock never stands without its stamp, nor empty for another rename to land on. Waiters poll
// until a deadline, one rename per attempt. A lock is taken over only when it was taken more than
// two seconds ago (a holder that has just released and exited must not make a waiter remove the
// lock the next holder has just taken) and its holder is gone: dead, or of an earlier boot (the
// lock directories outlive a reboot, and the PID may be some other process's by then). Takeovers go
// one at a time (see takeOverStale). The agent's image build and the CNI plugin's IPAM use it.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export class LockTimeoutError extends Error {}

/** Claims made by this process: one name each, also for concurrent callers in one process. */
let claims = 0;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long ago the lock (or any path) was last changed; 0 when it is gone. */
export function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** Whether a process with this PID exists (EPERM: it does, as another user's). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let boot: { id: string; atMs: number } | undefined;
/** This boot's id and start time (empty and 0 when the kernel does not say), read once. */
function thisBoot(): { id: string; atMs: number } {
  if (!boot) {
    let id = '';
    let atMs = 0;
    try {
      id = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      atMs = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1] ?? 0) * 1000;
    } catch {}
    boot = { id, atMs };
  }
  return boot;
}

/** What a holder writes into its lock's `pid` file: its PID and this boot's id. */
export function holderStamp(): string {
  return `${process.pid} ${thisBoot().id}`;
}

/**
 * The `pid` file's words: [PID, boot id]; empty when there is none (gone: released or taken over,
 * or left without one); undefined when it could not be read for another reason (EMFILE, EIO…):
 * then nothing is known, and nothing is taken over.
 */
function stampOf(lock: string): string[] | undefined {
  try {
    return readFileSync(join(lock, 'pid'), 'utf8').trim().split(/\s+/);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? [] : undefined;
  }
}

/** The PID in a lock's stamp; 0 when the lock is gone or has no readable stamp. */
function holderOf(lock: string): number {
  return Math.max(0, Math.trunc(Number(stampOf(lock)?.[0]))) || 0;
}

/** Whether a stamp [PID, boot id] names a process that is gone: of another boot, or dead. */
function holderGone(stamp: string[], age: number): boolean {
  const pid = Math.trunc(Number(stamp[0]));
  const { id, atMs } = thisBoot();
  // With a boot id, that decides the boot; without (an older version's stamp), a lock made before
  // this boot is of an earlier one (btime moves with clock steps, so only as the fallback).
  const earlierBoot = stamp[1] !== undefined ? id !== '' && stamp[1] !== id : atMs > 0 && Date.now() - age < atMs;
  return earlierBoot || !(pid > 0 && alive(pid));
}

/** A lock without a readable stamp this old is junk (locks never stand without one). */
const UNSTAMPED_STALE_MS = 10_000;

/**
 * Whether `lock` is, right now, a stale lock of `holder` (what holderOf read): taken more than two
 * seconds ago (a holder sets the time when it takes the lock) by a holder of another boot or a
 * dead one. With holder 0 (no readable stamp), one older than UNSTAMPED_STALE_MS: a crash, or a
 * version before the stamps. Never when the stamp could not be read.
 */
function isStale(lock: string, holder: number): boolean {
  const age = ageMs(lock);
  const stamp = stampOf(lock);
  if (age <= 2000 || stamp === undefined || holderOf(lock) !== holder) return false;
  if (holder === 0) return age > UNSTAMPED_STALE_MS;
  return holderGone(stamp, age);
}

/** A unique name beside `lock`: `<lock>.<kind.>PID.N-NONCE` (the nonce: PIDs repeat after a reboot). */
function besideName(lock: string, kind: string): string {
  return `${lock}.${kind}${process.pid}.${++claims}-${randomBytes(4).toString('hex')}`;
}

/** A new claim on `lock`: a directory of this process's holding its stamp, to be renamed onto it. */
function makeClaim(lock: string): string {
  const claim = besideName(lock, '');
  mkdirSync(claim);
  try {
    writeFileSync(join(claim, 'pid'), holderStamp());
  } catch (e) {
    rmSync(claim, { recursive: true, force: true });
    throw e;
  }
  return claim;
}

/** One attempt to take `lock` with `claim`: true when taken, false when it is held. */
function tryTake(claim: string, lock: string): boolean {
  try {
    renameSync(claim, lock);
    // Its age counts from now, not from when the claim was made (a rename keeps the time).
    const now = new Date();
    utimesSync(lock, now, now);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTEMPTY') return false;
    throw e;
  }
}

/** Moves a lock away whole, then removes it (never left empty for a claim's rename to land on). */
function removeAside(lock: string, kind: string): boolean {
  const aside = besideName(lock, `${kind}.`);
  try {
    renameSync(lock, aside);
  } catch {
    return false; // gone already
  }
  rmSync(aside, { recursive: true, force: true });
  return true;
}

/**
 * Removes `lock` if it is still the stale lock of `holder` (what the caller read). Takeovers go
 * one at a time, under the lock `<lock>.takeover` (itself stamped, so a taker that died inside it
 * is seen dead), and look again under it: only another taker or the holder could change a stale
 * lock, and the holder is gone, so what is checked under the guard is what gets removed. (Without
 * the guard, two waiters that both saw the stale lock could each remove one: the second would
 * remove the lock the next holder had just taken.) Returns whether it removed the lock; false at
 * once when another taker holds the guard (the caller polls). Left: a guard whose taker died is
 * removed by whoever sees it stale; two waiters doing that at the same moment could both get in.
 */
function takeOverStale(lock: string, holder: number): boolean {
  const guard = `${lock}.takeover`;
  const claim = makeClaim(guard);
  let taken = false;
  try {
    taken = tryTake(claim, guard);
  } finally {
    if (!taken) rmSync(claim, { recursive: true, force: true });
  }
  if (!taken) {
    const taker = holderOf(guard);
    if (isStale(guard, taker)) removeAside(guard, 'stale');
    return false;
  }
  try {
    return holderOf(lock) === holder && isStale(lock, holder) && removeAside(lock, 'stale');
  } finally {
    if (holderOf(guard) === process.pid) removeAside(guard, 'released');
  }
}

/**
 * Removes what gone processes left beside `lock` (call holding it): claims of waiters killed while
 * waiting, and locks moved aside by a process that died before removing them. Judged by the stamp
 * inside (PID and boot), else by the PID in the name.
 */
function sweep(lock: string): void {
  const dir = dirname(lock);
  const prefix = `${basename(lock)}.`;
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    // <lock>.[stale.|released.]<pid>.<n>[-<nonce>], and the same under <lock>.takeover.
    const named = /\.(\d+)\.\d+(?:-[0-9a-f]+)?$/.exec(name)?.[1];
    if (!named) continue;
    const path = join(dir, name);
    const stamp = stampOf(path);
    if (stamp === undefined) continue;
    if (holderGone(stamp.length > 1 ? stamp : [named], ageMs(path))) rmSync(path, { recursive: true, force: true });
  }
}

/** Runs fn holding the lock directory `lock` (its parent must exist). */
export async function withDirLock<T>(lock: string, fn: () => Promise<T> | T, timeoutMs = 30_000): Promise<T> {
  // Every caller polls, also callers in the same process: an in-process queue would hand the lock
  // from one local caller to the next and starve a waiter in another process.
  const deadline = Date.now() + timeoutMs;
  const claim = makeClaim(lock);
  try {
    for (let attempt = 0; !tryTake(claim, lock); attempt++) {
      const holder = holderOf(lock);
      if (isStale(lock, holder) && takeOverStale(lock, holder)) continue;
      if (Date.now() > deadline)
        throw new LockTimeoutError(
          `timed out waiting for the lock ${lock} ` +
            `(held by PID ${holder || 'unknown'}, ${Math.round(ageMs(lock))} ms old)`,
        );
      await sleep(Math.min(50, 2 + attempt * 2));
    }
  } catch (e) {
    rmSync(claim, { recursive: true, force: true });
    throw e;
  }
  try {
    sweep(lock);
    return await fn();
  } finally {
    removeAside(lock, 'released');
  }
}
