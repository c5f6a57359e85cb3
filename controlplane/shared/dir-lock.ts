// A lock between processes on one host: a directory that appears, by one rename, already holding
// its holder's stamp (PID and the kernel's boot id), and is released by being renamed away whole.
// So a lock never stands without its stamp, nor empty for another rename to land on. Waiters poll
// until a deadline, one rename per attempt. A lock is taken over only when it is older than two
// seconds (a holder that has just released and exited must not make a waiter remove the lock the
// next holder has just taken) and its holder is gone: dead, or of an earlier boot (the lock
// directories outlive a reboot, and the PID may be some other process's by then). Takeovers go
// one at a time (see takeOverStale). The agent's image build and the CNI plugin's IPAM use it.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

/** The `pid` file's words: [PID, boot id]; empty when there is none. */
function stampOf(lock: string): string[] {
  try {
    return readFileSync(join(lock, 'pid'), 'utf8').trim().split(/\s+/);
  } catch {
    return []; // gone (released or taken over), or left without one
  }
}

/** The PID in a lock's stamp; 0 when the lock is gone or has no readable stamp. */
export function holderOf(lock: string): number {
  return Math.max(0, Math.trunc(Number(stampOf(lock)[0]))) || 0;
}

/** A lock without a readable stamp this old is junk (locks never stand without one). */
const UNSTAMPED_STALE_MS = 10_000;

/**
 * Whether `lock` is, right now, a stale lock of `holder` (what holderOf read): older than two
 * seconds and made before this boot, or of another boot, or of a dead holder. With holder 0 (no
 * readable stamp), one older than UNSTAMPED_STALE_MS: a crash, or a version before the stamps.
 */
export function isStale(lock: string, holder: number): boolean {
  const age = ageMs(lock);
  if (age <= 2000 || holderOf(lock) !== holder) return false;
  if (holder === 0) return age > UNSTAMPED_STALE_MS;
  const { id, atMs } = thisBoot();
  const bootId = stampOf(lock)[1];
  const earlierBoot = (atMs > 0 && Date.now() - age < atMs) || (bootId !== undefined && id !== '' && bootId !== id);
  return earlierBoot || !alive(holder);
}

/** A new claim on `lock`: a directory of this process's holding its stamp, to be renamed onto it. */
function makeClaim(lock: string): string {
  const claim = `${lock}.${process.pid}.${++claims}`;
  mkdirSync(claim);
  writeFileSync(join(claim, 'pid'), holderStamp());
  return claim;
}

/** One attempt to take `lock` with `claim`: true when taken, false when it is held. */
function tryTake(claim: string, lock: string): boolean {
  try {
    renameSync(claim, lock);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTEMPTY') return false;
    throw e;
  }
}

/** Moves a lock away whole, then removes it (never left empty for a claim's rename to land on). */
function removeAside(lock: string, kind: string): boolean {
  const aside = `${lock}.${kind}.${process.pid}.${++claims}`;
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
export function takeOverStale(lock: string, holder: number): boolean {
  const guard = `${lock}.takeover`;
  const claim = makeClaim(guard);
  if (!tryTake(claim, guard)) {
    rmSync(claim, { recursive: true, force: true });
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
 * Removes what dead processes left beside `lock` (call holding it): claims of waiters killed while
 * waiting, and locks moved aside by a process that died before removing them.
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
    // <lock>.<pid>.<n>, <lock>.stale|released.<pid>.<n>, and the same under <lock>.takeover.
    const pid = Number(/\.(\d+)\.\d+$/.exec(name)?.[1] ?? 0);
    if (pid && !alive(pid)) rmSync(join(dir, name), { recursive: true, force: true });
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
