// A lock between processes on one host: a directory (mkdir is atomic) holding the holder's PID.
// Waiters poll until a deadline. A lock is taken over only when its holder is dead AND the lock
// is older than two seconds: a holder that has just released and exited must not make a waiter
// remove the lock the next holder has just taken.
import { mkdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class LockTimeoutError extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function holderOf(lock: string): number {
  try {
    return Number(readFileSync(join(lock, 'pid'), 'utf8')) || 0;
  } catch {
    return 0; // being written, or just removed
  }
}

/** Runs fn holding the lock directory `lock` (its parent must exist). */
export async function withDirLock<T>(lock: string, fn: () => Promise<T> | T, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = holderOf(lock);
      // No PID after two seconds means its holder died between mkdir and writing the PID.
      const dead = holder ? !alive(holder) : true;
      if (dead && ageMs(lock) > 2000) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new LockTimeoutError(`timed out waiting for the lock ${lock}`);
      await sleep(Math.min(50, 2 + attempt * 2));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(join(lock, 'pid'), { force: true });
    rmdirSync(lock);
  }
}
