// etcd v3 backend through the etcd3 client: for clusters that outgrow one host, and for several
// `skiff server` processes sharing one etcd. Writes are transactions guarded by mod_revision.
import { readFileSync } from 'node:fs';
import { Etcd3, type IKeyValue, type IRequestOp, type ITxnResponse, type Watcher } from 'etcd3';
import {
  StoreError,
  prefixEnd,
  type KeyValue,
  type ListOptions,
  type ListResult,
  type Store,
  type WatchCallbacks,
  type WatchHandle,
} from './store.ts';

export interface EtcdOptions {
  endpoints: string[];
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** Key prefix inside etcd, so unrelated data can share the cluster. */
  prefix?: string;
}

const b = (s: string) => Buffer.from(s);

function isCompacted(e: unknown): boolean {
  return /compacted/i.test(String((e as Error)?.message ?? e));
}

export class EtcdStore implements Store {
  readonly kind = 'etcd' as const;
  private client: Etcd3;
  private root: string;
  private compacted = 0;

  constructor(o: EtcdOptions) {
    const tls = o.caFile
      ? {
          rootCertificate: readFileSync(o.caFile),
          ...(o.certFile ? { certChain: readFileSync(o.certFile) } : {}),
          ...(o.keyFile ? { privateKey: readFileSync(o.keyFile) } : {}),
        }
      : undefined;
    this.client = new Etcd3({ hosts: o.endpoints, ...(tls ? { credentials: tls } : {}), dialTimeout: 5000 });
    this.root = o.prefix ?? '';
  }

  private kv(k: IKeyValue): KeyValue {
    return {
      key: k.key.toString().slice(this.root.length),
      value: k.value.toString(),
      createRevision: Number(k.create_revision),
      modRevision: Number(k.mod_revision),
    };
  }

  private wrap(e: unknown): never {
    if (e instanceof StoreError) throw e;
    if (isCompacted(e)) throw new StoreError('Compacted', String((e as Error).message));
    throw new StoreError('Unavailable', `etcd: ${(e as Error)?.message ?? e}`);
  }

  async get(key: string): Promise<KeyValue | null> {
    try {
      const r = await this.client.kv.range({ key: b(this.root + key) });
      return r.kvs.length ? this.kv(r.kvs[0]) : null;
    } catch (e) {
      return this.wrap(e);
    }
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    try {
      const r = await this.client.kv.range({
        key: b(this.root + (opts.startKey ?? prefix)),
        range_end: b(this.root + prefixEnd(prefix)),
        ...(opts.limit ? { limit: opts.limit } : {}),
        ...(opts.revision ? { revision: opts.revision } : {}),
      });
      return {
        items: r.kvs.map((k) => this.kv(k)),
        revision: opts.revision || Number(r.header.revision),
        more: !!r.more,
      };
    } catch (e) {
      return this.wrap(e);
    }
  }

  async count(prefix: string, startKey?: string): Promise<number> {
    try {
      const r = await this.client.kv.range({
        key: b(this.root + (startKey ?? prefix)),
        range_end: b(this.root + prefixEnd(prefix)),
        count_only: true,
      });
      return Number(r.count);
    } catch (e) {
      return this.wrap(e);
    }
  }

  async create(key: string, value: string): Promise<KeyValue> {
    const k = b(this.root + key);
    try {
      const r = await this.client.kv.txn({
        compare: [{ key: k, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key: k, value: b(value) } }],
        failure: [{ request_range: { key: k } }],
      });
      if (!r.succeeded) {
        const cur = r.responses[0].response_range.kvs[0];
        throw new StoreError('AlreadyExists', `${key} already exists`, cur ? this.kv(cur) : null);
      }
      const rev = Number(r.header.revision);
      return { key, value, createRevision: rev, modRevision: rev };
    } catch (e) {
      return this.wrap(e);
    }
  }

  /**
   * One write guarded by the key's mod revision (0: only that the key exists). A failed guard
   * reads the key back to tell NotFound from Conflict.
   */
  private async guarded(key: string, expectedModRevision: number, op: IRequestOp): Promise<ITxnResponse> {
    const k = b(this.root + key);
    const r = await this.client.kv.txn({
      compare: expectedModRevision
        ? [{ key: k, target: 'Mod', result: 'Equal', mod_revision: expectedModRevision }]
        : [{ key: k, target: 'Create', result: 'Greater', create_revision: 0 }],
      success: [op],
      failure: [{ request_range: { key: k } }],
    });
    if (!r.succeeded) {
      const cur = r.responses[0].response_range.kvs[0];
      if (!cur) throw new StoreError('NotFound', `${key} not found`);
      throw new StoreError('Conflict', `${key} was modified`, this.kv(cur));
    }
    return r;
  }

  async update(key: string, value: string, expectedModRevision: number): Promise<KeyValue> {
    try {
      const r = await this.guarded(key, expectedModRevision, {
        request_put: { key: b(this.root + key), value: b(value), prev_kv: true },
      });
      const prev = r.responses[0].response_put.prev_kv;
      const rev = Number(r.header.revision);
      return { key, value, createRevision: prev ? Number(prev.create_revision) : rev, modRevision: rev };
    } catch (e) {
      return this.wrap(e);
    }
  }

  async delete(key: string, expectedModRevision: number): Promise<{ prev: KeyValue; revision: number }> {
    try {
      const r = await this.guarded(key, expectedModRevision, {
        request_delete_range: { key: b(this.root + key), prev_kv: true },
      });
      const prev = r.responses[0].response_delete_range.prev_kvs[0];
      if (!prev) throw new StoreError('NotFound', `${key} not found`);
      return { prev: this.kv(prev), revision: Number(r.header.revision) };
    } catch (e) {
      return this.wrap(e);
    }
  }

  watch(prefix: string, fromRevision: number, cb: WatchCallbacks): WatchHandle {
    let watcher: Watcher | null = null;
    let closed = false;
    const builder = this.client
      .watch()
      .prefix(this.root + prefix)
      .withPreviousKV();
    if (fromRevision > 0) builder.startRevision(String(fromRevision + 1));
    builder
      .create()
      .then((w) => {
        if (closed) {
          void w.cancel();
          return;
        }
        watcher = w;
        w.on('put', (kv: IKeyValue, prev?: IKeyValue) =>
          cb.onEvent({ type: 'put', kv: this.kv(kv), prev: prev ? this.kv(prev) : null }),
        );
        w.on('delete', (kv: IKeyValue, prev?: IKeyValue) => {
          const last = prev ? this.kv(prev) : { ...this.kv(kv), value: '{}' };
          cb.onEvent({ type: 'delete', kv: { ...last, modRevision: Number(kv.mod_revision) }, prev: last });
        });
        w.on('error', (e: Error) => {
          if (closed) return;
          closed = true;
          // etcd cancels a watch whose start revision was compacted; any cancel makes the client relist.
          cb.onError(new StoreError('Compacted', `watch ended: ${e.message}`));
        });
      })
      .catch((e) => {
        if (!closed) {
          closed = true;
          cb.onError(new StoreError(isCompacted(e) ? 'Compacted' : 'Unavailable', String(e?.message ?? e)));
        }
      });
    return {
      close: () => {
        closed = true;
        void watcher?.cancel();
      },
    };
  }

  async currentRevision(): Promise<number> {
    try {
      const r = await this.client.kv.range({ key: b(this.root + '/'), limit: 1, count_only: true });
      return Number(r.header.revision);
    } catch (e) {
      return this.wrap(e);
    }
  }

  async compactedRevision(): Promise<number> {
    return this.compacted;
  }

  async compact(revision: number): Promise<void> {
    try {
      await this.client.kv.compact({ revision, physical: false });
      this.compacted = Math.max(this.compacted, revision);
    } catch (e) {
      // Another server compacted further already.
      if (isCompacted(e)) {
        this.compacted = Math.max(this.compacted, revision);
        return;
      }
      this.wrap(e);
    }
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
