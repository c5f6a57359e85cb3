// One contract, two backends: the embedded SQLite store and real etcd.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { EmbeddedStore } from '../../controlplane/store/embedded.ts';
import { EtcdStore } from '../../controlplane/store/etcd.ts';
import { StoreError, type Store, type WatchEvent } from '../../controlplane/store/store.ts';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.ts';
import { tempDir } from '../helpers/server.ts';

const code = (c: string) => (e: unknown) => e instanceof StoreError && e.code === c;

function collect(store: Store, prefix: string, from: number) {
  const events: WatchEvent[] = [];
  let error: StoreError | null = null;
  const h = store.watch(prefix, from, {
    onEvent: (e) => events.push(e),
    onError: (e) => {
      error = e;
    },
  });
  return {
    events,
    h,
    get error() {
      return error;
    },
  };
}

async function until(cond: () => boolean, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function contract(name: string, make: () => Promise<{ store: Store; cleanup: () => Promise<void> }>) {
  describe(`store contract: ${name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    before(async () => ({ store, cleanup } = await make()));
    after(async () => {
      await store.close();
      await cleanup();
    });

    test('create, get, update guarded by revision, delete', async () => {
      const a = await store.create('/t/a', 'v1');
      assert.equal(a.createRevision, a.modRevision);
      await assert.rejects(store.create('/t/a', 'again'), code('AlreadyExists'));
      const b = await store.update('/t/a', 'v2', a.modRevision);
      assert.ok(b.modRevision > a.modRevision);
      assert.equal(b.createRevision, a.createRevision);
      await assert.rejects(
        store.update('/t/a', 'stale', a.modRevision),
        (e: unknown) => code('Conflict')(e) && (e as StoreError).current?.value === 'v2',
      );
      await assert.rejects(store.update('/t/none', 'x', 1), code('NotFound'));
      assert.equal((await store.get('/t/a'))?.value, 'v2');
      await assert.rejects(store.delete('/t/a', a.modRevision), code('Conflict'));
      const d = await store.delete('/t/a', b.modRevision);
      assert.equal(d.prev.value, 'v2');
      assert.equal(await store.get('/t/a'), null);
      await assert.rejects(store.delete('/t/a', 0), code('NotFound'));
      const again = await store.create('/t/a', 'v3');
      assert.ok(again.createRevision > d.revision, 'a recreated key has a new create revision');
    });

    test('list by prefix, with limit, start key and at an older revision', async () => {
      for (const n of ['x1', 'x2', 'x3', 'x4']) await store.create(`/l/${n}`, n);
      await store.create('/lz/other', 'no');
      const all = await store.list('/l/');
      assert.deepEqual(
        all.items.map((i) => i.value),
        ['x1', 'x2', 'x3', 'x4'],
      );
      const page = await store.list('/l/', { limit: 2 });
      assert.deepEqual(
        page.items.map((i) => i.value),
        ['x1', 'x2'],
      );
      assert.equal(page.more, true);
      const rest = await store.list('/l/', { startKey: page.items[1].key + '\u0000', revision: page.revision });
      assert.deepEqual(
        rest.items.map((i) => i.value),
        ['x3', 'x4'],
      );
      const rev = all.revision;
      const x1 = all.items[0];
      await store.update('/l/x1', 'changed', x1.modRevision);
      await store.delete('/l/x2', 0);
      const old = await store.list('/l/', { revision: rev });
      assert.deepEqual(
        old.items.map((i) => i.value),
        ['x1', 'x2', 'x3', 'x4'],
        'the past is readable until compacted',
      );
      assert.deepEqual(
        (await store.list('/l/')).items.map((i) => i.value),
        ['changed', 'x3', 'x4'],
      );
      assert.equal(await store.count('/l/'), 3);
    });

    test('watch from a revision replays history, then follows live changes', async () => {
      const start = await store.currentRevision();
      const c1 = await store.create('/w/a', '1');
      await store.update('/w/a', '2', c1.modRevision);
      const w = collect(store, '/w/', start);
      await until(() => w.events.length === 2);
      await store.create('/w/b', '3');
      await store.delete('/w/a', 0);
      await store.create('/other/x', 'ignored');
      await until(() => w.events.length === 4);
      assert.deepEqual(
        w.events.map((e) => `${e.type} ${e.kv.key} ${e.type === 'delete' ? e.prev.value : e.kv.value}`),
        ['put /w/a 1', 'put /w/a 2', 'put /w/b 3', 'delete /w/a 2'],
      );
      assert.equal(w.events[1].prev?.value, '1');
      const revs = w.events.map((e) => e.kv.modRevision);
      assert.deepEqual(
        [...revs].sort((a, b) => a - b),
        revs,
        'in revision order',
      );
      w.h.close();
    });

    test('compaction: old revisions are gone, watches from them fail as Compacted', async () => {
      const k = await store.create('/c/a', '1');
      const u = await store.update('/c/a', '2', k.modRevision);
      await store.update('/c/a', '3', u.modRevision);
      const now = await store.currentRevision();
      await store.compact(now);
      await assert.rejects(store.list('/c/', { revision: k.modRevision }), code('Compacted'));
      assert.equal((await store.get('/c/a'))?.value, '3', 'the latest value survives compaction');
      const w = collect(store, '/c/', k.modRevision);
      await until(() => w.error !== null);
      assert.equal(w.error!.code, 'Compacted');
      w.h.close();
    });
  });
}

contract('embedded', async () => {
  const dir = tempDir('store');
  return { store: new EmbeddedStore(dir), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

let etcd: EtcdCluster;
contract('etcd', async () => {
  etcd = await startEtcd(1);
  return { store: new EtcdStore({ endpoints: etcd.endpoints }), cleanup: () => etcd.stop() };
});

test('embedded store: data survives reopening', async () => {
  const dir = tempDir('reopen');
  const s1 = new EmbeddedStore(dir);
  const a = await s1.create('/r/a', 'kept');
  await s1.close();
  const s2 = new EmbeddedStore(dir);
  const got = await s2.get('/r/a');
  assert.deepEqual(got, a);
  const b = await s2.create('/r/b', 'next');
  assert.ok(b.modRevision > a.modRevision, 'revisions continue after restart');
  await s2.close();
  rmSync(dir, { recursive: true, force: true });
});

test('etcd store: a three-member cluster keeps serving when one member is killed', async () => {
  const cluster = await startEtcd(3);
  const store = new EtcdStore({ endpoints: cluster.endpoints });
  try {
    const a = await store.create('/ha/a', '1');
    const w = collect(store, '/ha/', a.modRevision);
    await cluster.kill(0);
    let last = a;
    for (let i = 2; i <= 20; i++) last = await store.update('/ha/a', String(i), last.modRevision);
    assert.equal((await store.get('/ha/a'))?.value, '20');
    await until(() => w.events.length === 19, 20_000);
    w.h.close();
  } finally {
    await store.close();
    await cluster.stop();
  }
});
