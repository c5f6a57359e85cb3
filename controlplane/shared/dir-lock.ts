// A lock between processes on one host: a directory (mkdir is atomic) holding the holder's PID.
// Waiters poll until a deadline. A lock is taken over only when its holder is dead AND the lock
// is older than two seconds: a holder that has just released and exited must not make a waiter
// remove the lock the next holder has just taken.
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

/** The PID written in a lock directory's `pid` file; 0 while it is being written or gone. */
export function holderOf(lock: string): number {
  try {
    return Number(readFileSync(join(lock, 'pid'), 'utf8')) || 0;
  } catch {
    return 0; // being written, or just removed
  }
}

/**
 * Removes the lock `lock` of the dead PID `holder` (the caller saw it dead and the lock old).
 * Moved aside whole first: removed in place, the lock would be an empty directory for a moment,
 * and a waiter's rename landing on it would then lose its pid to this removal. Between the look
 * and the move another waiter may have cleared it and a live holder taken it: that one is put back.
 */
export function takeOverStale(lock: string, holder: number): void {
  const stale = `${lock}.stale.${process.pid}.${++claims}`;
  try {
    renameSync(lock, stale);
  } catch {
    return; // another waiter took it over first
  }
  if (holderOf(stale) !== holder) {
    try {
      renameSync(stale, lock);
    } catch {}
    return;
  }
  rmSync(stale, { recursive: true, force: true });
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
    writeFileSync(join(claim, 'pid'), String(process.pid));
    try {
      renameSync(claim, lock);
      break;
    } catch (e) {
      rmSync(claim, { recursive: true, force: true });
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw e;
      const holder = holderOf(lock);
      // No PID: the lock was released between the rename and this read; look again.
      if (holder && !alive(holder) && ageMs(lock) > 2000) {
        takeOverStale(lock, holder);
        continue;
      }
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
