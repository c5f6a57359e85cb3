import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Compactor } from '../../controlplane/server/compactor.ts';
import type { Store } from '../../controlplane/store/store.ts';

test('compaction keeps the retention window of history', async () => {
  let rev = 10,
    compacted = 0;
  const calls: number[] = [];
  const store = {
    currentRevision: async () => rev,
    compactedRevision: async () => compacted,
    compact: async (r: number) => {
      calls.push(r);
      compacted = r;
    },
  } as unknown as Store;
  const c = new Compactor(store, 5 * 60_000);
  const t0 = 1_000_000;
  assert.equal(await c.tick(t0), null);
  rev = 20;
  assert.equal(await c.tick(t0 + 60_000), null, 'nothing is older than 5 minutes yet');
  rev = 30;
  assert.equal(await c.tick(t0 + 5 * 60_000), 10, 'revision seen 5 minutes ago is compacted');
  rev = 40;
  assert.equal(await c.tick(t0 + 6 * 60_000), 20);
  assert.deepEqual(calls, [10, 20]);
});
