// Compacts store history older than a retention window (5 minutes by default), so watches can
// resume across short disconnects while disk use stays bounded.
import type { Store } from '../store/store.ts';

export class Compactor {
  private marks: { at: number; rev: number }[] = [];
  private store: Store;
  private retainMs: number;
  constructor(store: Store, retainMs: number) {
    this.store = store;
    this.retainMs = retainMs;
  }

  async tick(now = Date.now()): Promise<number | null> {
    this.marks.push({ at: now, rev: await this.store.currentRevision() });
    let target: number | null = null;
    while (this.marks.length && now - this.marks[0].at >= this.retainMs) target = this.marks.shift()!.rev;
    if (target !== null && target > (await this.store.compactedRevision())) {
      await this.store.compact(target);
      return target;
    }
    return null;
  }
}
