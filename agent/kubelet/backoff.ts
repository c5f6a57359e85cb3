// Crash-loop back-off per container: the first restart is immediate, then 10 s doubling to
// 300 s; a container that ran 10 minutes starts over.
export const BACKOFF_INITIAL_MS = 10_000;
export const BACKOFF_MAX_MS = 300_000;
export const BACKOFF_RESET_MS = 600_000;

/** One container's back-off: the delay given to its last exit, and when it may start again. */
export interface BackoffEntry {
  delayMs: number;
  until: number;
  exitAt: number;
}

/** The entry after an exit at exitAt of a run that lasted ranForMs (the same exit seen again changes nothing). Pure. */
export function nextBackoff(prev: BackoffEntry | undefined, exitAt: number, ranForMs: number): BackoffEntry {
  if (prev && prev.exitAt === exitAt) return prev;
  let delay = 0;
  if (prev && ranForMs < BACKOFF_RESET_MS)
    delay = prev.delayMs === 0 ? BACKOFF_INITIAL_MS : Math.min(prev.delayMs * 2, BACKOFF_MAX_MS);
  return { delayMs: delay, until: exitAt + delay, exitAt };
}

/** The back-off entries of a node's containers, by key (`<pod uid>/<container name>`). */
export class Backoff {
  private entries = new Map<string, BackoffEntry>();
  get(key: string): BackoffEntry | undefined {
    return this.entries.get(key);
  }
  set(key: string, e: BackoffEntry) {
    this.entries.set(key, e);
  }
  forget(prefix: string) {
    for (const k of [...this.entries.keys()]) if (k.startsWith(prefix)) this.entries.delete(k);
  }
}
