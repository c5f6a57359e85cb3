// A work queue of keys: a key queued while it is being worked on is worked on again after, a
// key is never worked on twice at once, and a failed key comes back with exponential back-off.
export class WorkQueue {
  private pending = new Set<string>();
  private active = new Set<string>();
  private again = new Set<string>();
  private failures = new Map<string, number>();
  private timers = new Map<string, NodeJS.Timeout>();
  private work: (key: string) => Promise<void>;
  private log: (s: string) => void;
  private running = 0;
  private stopped = false;
  private concurrency: number;

  constructor(work: (key: string) => Promise<void>, log: (s: string) => void, concurrency = 4) {
    this.work = work;
    this.log = log;
    this.concurrency = concurrency;
  }

  add(key: string) {
    if (this.stopped) return;
    if (this.active.has(key)) {
      this.again.add(key);
      return;
    }
    this.pending.add(key);
    this.pump();
  }

  /** Queues the key after ms (a timer per key; a sooner request wins). */
  addAfter(key: string, ms: number) {
    if (this.stopped || this.timers.has(key)) return;
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        this.add(key);
      }, ms),
    );
  }

  private pump() {
    while (this.running < this.concurrency && this.pending.size) {
      const key = this.pending.values().next().value as string;
      this.pending.delete(key);
      this.active.add(key);
      this.running++;
      this.work(key)
        .then(
          () => this.failures.delete(key),
          (e) => {
            const n = (this.failures.get(key) ?? 0) + 1;
            this.failures.set(key, n);
            this.log(`${key}: ${(e as Error).message}`);
            this.addAfter(key, Math.min(5 * 2 ** n, 60_000));
          },
        )
        .finally(() => {
          this.running--;
          this.active.delete(key);
          if (this.again.delete(key)) this.pending.add(key);
          this.pump();
        });
    }
  }

  stop() {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
