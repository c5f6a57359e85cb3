// Embedded store: SQLite (node:sqlite) in WAL mode with synchronous=FULL, so an acknowledged
// write has been fsynced. Every write appends a row whose id is the new revision; the row of a
// delete keeps the last value so watchers can be told what went away. Compaction drops rows a
// newer revision of the same key supersedes. Why SQLite rather than an own log: crash recovery,
// indexes and atomic multi-statement transactions come for free and are well tested.
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  StoreError,
  prefixEnd,
  type KeyValue,
  type ListOptions,
  type ListResult,
  type Store,
  type WatchCallbacks,
  type WatchEvent,
  type WatchHandle,
} from './store.ts';

interface Row {
  id: number;
  name: string;
  deleted: number;
  create_revision: number;
  prev_revision: number;
  value: string;
}

interface Watcher {
  prefix: string;
  cb: WatchCallbacks;
  /** Events buffered while the watcher catches up on history. */
  pending: WatchEvent[] | null;
  closed: boolean;
}

export class EmbeddedStore implements Store {
  readonly kind = 'embedded' as const;
  private db: DatabaseSync;
  private watchers = new Set<Watcher>();
  private st: Record<string, StatementSync>;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.db = new DatabaseSync(join(dir, 'state.db'));
    this.db.exec(`
      PRAGMA journal_mode=WAL;
      PRAGMA synchronous=FULL;
      PRAGMA busy_timeout=5000;
      CREATE TABLE IF NOT EXISTS kv (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        deleted INTEGER NOT NULL DEFAULT 0,
        create_revision INTEGER NOT NULL,
        prev_revision INTEGER NOT NULL DEFAULT 0,
        value TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS kv_name_id ON kv(name, id);
      CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
      INSERT OR IGNORE INTO meta(k, v) VALUES ('compact_revision', 0);
    `);
    const p = (sql: string) => this.db.prepare(sql);
    this.st = {
      latest: p('SELECT * FROM kv WHERE name = ? ORDER BY id DESC LIMIT 1'),
      byId: p('SELECT * FROM kv WHERE id = ?'),
      insert: p(
        'INSERT INTO kv(name, deleted, create_revision, prev_revision, value) VALUES (?, ?, ?, ?, ?) RETURNING id',
      ),
      setCreate: p('UPDATE kv SET create_revision = id WHERE id = ?'),
      rev: p("SELECT seq FROM sqlite_sequence WHERE name = 'kv'"),
      compactRev: p("SELECT v FROM meta WHERE k = 'compact_revision'"),
      setCompactRev: p("UPDATE meta SET v = ? WHERE k = 'compact_revision'"),
      // Walks the (name, id) index from the start key and stops at the limit, so a page costs
      // its own size rather than a scan of the whole prefix.
      list: p(`SELECT kv.* FROM kv WHERE kv.name >= ? AND kv.name < ?
                 AND kv.id = (SELECT MAX(k2.id) FROM kv AS k2 WHERE k2.name = kv.name AND k2.id <= ?)
                 AND kv.deleted = 0 ORDER BY kv.name LIMIT ?`),
      count: p(`SELECT COUNT(*) AS n FROM kv JOIN (
                 SELECT MAX(id) AS mid FROM kv WHERE name >= ? AND name < ? GROUP BY name
               ) m ON kv.id = m.mid WHERE kv.deleted = 0 AND kv.name >= ?`),
      history: p('SELECT * FROM kv WHERE id > ? AND name >= ? AND name < ? ORDER BY id LIMIT 1000'),
      compact: p(`DELETE FROM kv WHERE id <= ? AND (deleted = 1 OR id NOT IN (
                    SELECT MAX(id) FROM kv WHERE id <= ? GROUP BY name))`),
    };
  }

  private toKv(r: Row): KeyValue {
    return { key: r.name, value: r.value, createRevision: r.create_revision, modRevision: r.id };
  }

  private rev(): number {
    const r = this.st.rev.get() as { seq: number } | undefined;
    return r ? Number(r.seq) : 0;
  }

  private live(key: string): Row | null {
    const r = this.st.latest.get(key) as Row | undefined;
    return r && !r.deleted ? r : null;
  }

  async get(key: string): Promise<KeyValue | null> {
    const r = this.live(key);
    return r ? this.toKv(r) : null;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const current = this.rev();
    const revision = opts.revision && opts.revision > 0 ? opts.revision : current;
    if (revision > current) throw new StoreError('Unavailable', `revision ${revision} is in the future`);
    const compacted = (this.st.compactRev.get() as { v: number }).v;
    if (opts.revision && opts.revision < compacted)
      throw new StoreError('Compacted', `revision ${opts.revision} has been compacted`);
    const limit = opts.limit && opts.limit > 0 ? opts.limit : -1;
    const start = opts.startKey && opts.startKey > prefix ? opts.startKey : prefix;
    const rows = this.st.list.all(start, prefixEnd(prefix), revision, limit > 0 ? limit + 1 : -1) as unknown as Row[];
    const more = limit > 0 && rows.length > limit;
    if (more) rows.length = limit;
    return { items: rows.map((r) => this.toKv(r)), revision, more };
  }

  async count(prefix: string, startKey?: string): Promise<number> {
    return Number((this.st.count.get(prefix, prefixEnd(prefix), startKey ?? prefix) as { n: number }).n);
  }

  /** Runs `fn` in one IMMEDIATE transaction; SQLite's commit is the fsync point. */
  private txn<T>(fn: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const out = fn();
      this.db.exec('COMMIT');
      return out;
    } catch (e) {
      this.db.exec('ROLLBACK');
      throw e;
    }
  }

  async create(key: string, value: string): Promise<KeyValue> {
    const { kv, prev } = this.txn(() => {
      const cur = this.live(key);
      if (cur) throw new StoreError('AlreadyExists', `${key} already exists`, this.toKv(cur));
      const id = Number((this.st.insert.get(key, 0, 0, 0, value) as { id: number }).id);
      this.st.setCreate.run(id);
      return { kv: { key, value, createRevision: id, modRevision: id }, prev: null };
    });
    this.emit({ type: 'put', kv, prev });
    return kv;
  }

  async update(key: string, value: string, expectedModRevision: number): Promise<KeyValue> {
    const { kv, prev } = this.txn(() => {
      const cur = this.live(key);
      if (!cur) throw new StoreError('NotFound', `${key} not found`);
      if (expectedModRevision && cur.id !== expectedModRevision)
        throw new StoreError('Conflict', `${key} was modified`, this.toKv(cur));
      const id = Number((this.st.insert.get(key, 0, cur.create_revision, cur.id, value) as { id: number }).id);
      return { kv: { key, value, createRevision: cur.create_revision, modRevision: id }, prev: this.toKv(cur) };
    });
    this.emit({ type: 'put', kv, prev });
    return kv;
  }

  async delete(key: string, expectedModRevision: number): Promise<{ prev: KeyValue; revision: number }> {
    const out = this.txn(() => {
      const cur = this.live(key);
      if (!cur) throw new StoreError('NotFound', `${key} not found`);
      if (expectedModRevision && cur.id !== expectedModRevision)
        throw new StoreError('Conflict', `${key} was modified`, this.toKv(cur));
      const id = Number((this.st.insert.get(key, 1, cur.create_revision, cur.id, cur.value) as { id: number }).id);
      return { prev: this.toKv(cur), revision: id };
    });
    this.emit({ type: 'delete', kv: { ...out.prev, modRevision: out.revision }, prev: out.prev });
    return out;
  }

  private emit(ev: WatchEvent): void {
    for (const w of this.watchers) {
      if (w.closed || !ev.kv.key.startsWith(w.prefix)) continue;
      if (w.pending) w.pending.push(ev);
      else w.cb.onEvent(ev);
    }
  }

  private rowEvent(r: Row): WatchEvent {
    const kv = this.toKv(r);
    const prevRow = r.prev_revision ? (this.st.byId.get(r.prev_revision) as Row | undefined) : undefined;
    const prev = prevRow ? this.toKv(prevRow) : null;
    if (r.deleted) return { type: 'delete', kv, prev: prev ?? kv };
    return { type: 'put', kv, prev };
  }

  watch(prefix: string, fromRevision: number, cb: WatchCallbacks): WatchHandle {
    const w: Watcher = { prefix, cb, pending: [], closed: false };
    this.watchers.add(w);
    const handle = {
      close: () => {
        w.closed = true;
        this.watchers.delete(w);
      },
    };
    // Replay history synchronously (the DB is in-process), then flush what arrived meanwhile.
    queueMicrotask(() => {
      if (w.closed) return;
      const compacted = (this.st.compactRev.get() as { v: number }).v;
      if (fromRevision > 0 && fromRevision < compacted) {
        handle.close();
        cb.onError(new StoreError('Compacted', `revision ${fromRevision} has been compacted (oldest is ${compacted})`));
        return;
      }
      let last = fromRevision > 0 ? fromRevision : this.rev();
      for (;;) {
        const rows = this.st.history.all(last, prefix, prefixEnd(prefix)) as unknown as Row[];
        for (const r of rows) {
          cb.onEvent(this.rowEvent(r));
          last = r.id;
        }
        if (rows.length < 1000) break;
      }
      const pending = w.pending ?? [];
      w.pending = null;
      for (const ev of pending) if (ev.kv.modRevision > last) cb.onEvent(ev);
    });
    return handle;
  }

  async currentRevision(): Promise<number> {
    return this.rev();
  }

  async compactedRevision(): Promise<number> {
    return (this.st.compactRev.get() as { v: number }).v;
  }

  async compact(revision: number): Promise<void> {
    this.txn(() => {
      this.st.compact.run(revision, revision);
      this.st.setCompactRev.run(revision);
    });
  }

  async close(): Promise<void> {
    for (const w of this.watchers) w.closed = true;
    this.watchers.clear();
    this.db.close();
  }
}
