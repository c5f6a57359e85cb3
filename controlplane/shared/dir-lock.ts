// A lock between processes on one host: a directory (mkdir is atomic) holding the holder's PID
// and the kernel's boot id. Waiters poll until a deadline. A lock is taken over only when its
// holder is gone (dead, or of an earlier boot: the lock directories outlive a reboot, and the PID
// may be some other process's by then) AND the lock is older than two seconds: a holder that has
// just released and exited must not make a waiter remove the lock the next holder has just taken.
// Takeovers go one at a time (see takeOverStale).
import { mkdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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

let bootId: string | undefined;
/** This boot's id (empty when the kernel does not say), read once. */
function thisBoot(): string {
  if (bootId === undefined)
    try {
      bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      bootId = '';
    }
  return bootId;
}

/** What a holder writes into its lock's `pid` file: its PID and this boot's id. */
export function holderStamp(): string {
  return `${process.pid} ${thisBoot()}`;
}

/** The `pid` file's words: [PID, boot id]; empty while it is being written or gone. */
function stampOf(lock: string): string[] {
  try {
    return readFileSync(join(lock, 'pid'), 'utf8').trim().split(/\s+/);
  } catch {
    return []; // being written, or just removed
  }
}

/** The PID written in a lock directory's `pid` file; 0 while it is being written or gone. */
export function holderOf(lock: string): number {
  return Number(stampOf(lock)[0]) || 0;
}

/** A lock without a holder this old was left by a holder that died between mkdir and its PID. */
const EMPTY_STALE_MS = 10_000;

/**
 * Whether `lock` is, right now, a stale lock of `holder` (what holderOf read): a dead holder's,
 * or one from an earlier boot, and older than two seconds; with holder 0, a lock left without a
 * PID for EMPTY_STALE_MS (IPAM writes its PID after the mkdir).
 */
export function isStale(lock: string, holder: number): boolean {
  const [pid, boot] = stampOf(lock);
  const age = ageMs(lock);
  if (holder === 0) return pid === undefined && age > EMPTY_STALE_MS;
  if (Number(pid) !== holder || age <= 2000) return false;
  const otherBoot = boot !== undefined && thisBoot() !== '' && boot !== thisBoot();
  return otherBoot || !alive(holder);
}

/** A takeover guard this old was left by a taker that died inside it (it holds it for microseconds). */
const GUARD_STALE_MS = 10_000;

/**
 * Removes `lock` if it is still the stale lock of `holder` (what the caller read). Takeovers go
 * one at a time, under the directory `<lock>.takeover`, and look again under it: only another
 * taker or the holder could change a stale lock, and the holder is gone, so what is checked under
 * the guard is what gets removed. (Without the guard, two waiters that both saw the stale lock
 * could each remove one: the second would remove the lock the next holder had just taken.) The
 * lock is moved aside whole and then removed, so that it never stands empty for a claim's rename
 * to land on. Returns whether it removed the lock; false at once when another taker holds the
 * guard (the caller polls).
 */
export function takeOverStale(lock: string, holder: number): boolean {
  const guard = `${lock}.takeover`;
  try {
    mkdirSync(guard);
  } catch {
    // Held by another taker, or left by one that died: removed once old (a taker holds it for
    // microseconds, so an old one has no live taker), and the caller polls.
    if (ageMs(guard) > GUARD_STALE_MS)
      try {
        rmdirSync(guard);
      } catch {}
    return false;
  }
  try {
    if (holderOf(lock) !== holder || !isStale(lock, holder)) return false;
    const stale = `${lock}.stale.${process.pid}.${++claims}`;
    renameSync(lock, stale);
    rmSync(stale, { recursive: true, force: true });
    return true;
  } catch {
    return false; // gone already: nothing to take over
  } finally {
    rmSync(guard, { recursive: true, force: true });
  }
}

/** Runs fn holding the lock directory `lock` (its parent must exist). */
export function withDirLock<T>(lock: string, fn: () => Promise<T> | T, timeoutMs = 30_000): Promise<T> {
  // Every caller polls, also callers in the same process: an in-process queue would hand the lock
  // from one local caller to the next and starve a waiter in another process.
  return holdDirLock(lock, fn, Date.now() + timeoutMs);
}

async function holdDirLock<T>(lock: string, fn: () => Promise<T> | T, deadline: number): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    // The lock appears with its holder's PID inside, in one rename: a waiter never sees a lock
    // without a holder (a holder stalled between mkdir and writing its PID looked dead).
    const claim = `${lock}.${process.pid}.${++claims}`;
    mkdirSync(claim);
    writeFileSync(join(claim, 'pid'), holderStamp());
    try {
      renameSync(claim, lock);
      break;
    } catch (e) {
      rmSync(claim, { recursive: true, force: true });
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw e;
      const holder = holderOf(lock);
      // No PID: the lock was released between the rename and this read; look again.
      if (holder && isStale(lock, holder) && takeOverStale(lock, holder)) continue;
      if (Date.now() > deadline)
        throw new LockTimeoutError(
          `timed out waiting for the lock ${lock} ` +
            `(held by PID ${holder || 'unknown'}, ${Math.round(ageMs(lock))} ms old)`,
        );
      await sleep(Math.min(50, 2 + attempt * 2));
    }
  }
  try {
    return await fn();
  } finally {
    // Moved away whole, then removed: an empty lock directory left for a moment would let a
    // waiter's rename land on it, and this holder would then remove the next holder's lock.
    const gone = `${lock}.released.${process.pid}.${++claims}`;
    renameSync(lock, gone);
    rmSync(gone, { recursive: true, force: true });
  }
}
