// Crash-loop back-off per container: the first restart is immediate, then 10 s doubling to
// 300 s; a container that ran 10 minutes starts over.
export const BACKOFF_INITIAL_MS = 10_000;
export const BACKOFF_MAX_MS = 300_000;
export const BACKOFF_RESET_MS = 600_000;

export class Backoff {
  private entries = new Map<string, { delayMs: number; until: number; exitAt: number }>();
  /** Records an exit (once per exit time); returns when the container may start again. */
  exited(key: string, exitAt: number, ranForMs: number): number {
    const prev = this.entries.get(key);
    if (prev && prev.exitAt === exitAt) return prev.until;
    let delay = 0;
    if (prev && ranForMs < BACKOFF_RESET_MS)
      delay = prev.delayMs === 0 ? BACKOFF_INITIAL_MS : Math.min(prev.delayMs * 2, BACKOFF_MAX_MS);
    const until = exitAt + delay;
    this.entries.set(key, { delayMs: delay, until, exitAt });
    return until;
  }
  forget(prefix: string) {
    for (const k of [...this.entries.keys()]) if (k.startsWith(prefix)) this.entries.delete(k);
  }
}
