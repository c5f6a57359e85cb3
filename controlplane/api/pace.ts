// A fair turn for bulk work on the one event loop. Long responses (a watch's initial list, a
// large list) do their work in slices; each slice first awaits `turn()`, which hands out one
// turn per loop iteration (via setImmediate), so sockets, timers and small requests are served
// between any two slices however many bulk responses are running.

const waiting: (() => void)[] = [];
let pumping = false;

function pump(): void {
  const next = waiting.shift();
  if (!next) {
    pumping = false;
    return;
  }
  next();
  setImmediate(pump);
}

/** Resolves when this caller may run its next slice of bulk work. */
export function turn(): Promise<void> {
  return new Promise((resolve) => {
    waiting.push(resolve);
    if (!pumping) {
      pumping = true;
      setImmediate(pump);
    }
  });
}

/** Bytes of output a slice should produce before awaiting its next turn. */
export const SLICE_BYTES = 256 * 1024;

/**
 * At most `n` bulk reads (initial lists of watches, unpaginated lists) run at once; the rest wait
 * their turn with their response already started. Bounds the memory and CPU a crowd of watchers
 * or listers can take, as upstream's inflight limits do.
 */
export class Slots {
  private free: number;
  private queue: (() => void)[] = [];
  constructor(n: number) {
    this.free = n;
  }
  /** Resolves with a release function once a slot is free (or at once with a no-op if `cancelled()`). */
  async acquire(cancelled: () => boolean): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.queue.push(r));
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      if (next) next();
      else this.free++;
    };
    if (cancelled()) {
      release();
      return () => {};
    }
    return release;
  }
}

export const bulkSlots = new Slots(4);

/** Objects to read per page so that a page is about `bytes` of stored JSON (10 to 500). */
export function pageSize(avgBytes: number, bytes = 2 * SLICE_BYTES): number {
  if (!avgBytes) return 50;
  return Math.max(10, Math.min(500, Math.floor(bytes / avgBytes)));
}
