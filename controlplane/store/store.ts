// The store contract shared by the embedded backend and etcd. Keys are strings, values are
// serialized objects; every write bumps one global revision, as etcd does, and that revision
// is what the API hands out as resourceVersion.

export interface KeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
}

export interface ListResult {
  items: KeyValue[];
  /** The revision the list was read at. */
  revision: number;
  /** True when `limit` cut the list short. */
  more: boolean;
}

export interface ListOptions {
  /** Read as of this revision (0 = latest). */
  revision?: number;
  limit?: number;
  /** Start from this key (inclusive), for continue tokens. */
  startKey?: string;
}

export type WatchEvent =
  | { type: 'put'; kv: KeyValue; prev: KeyValue | null }
  | { type: 'delete'; kv: KeyValue; prev: KeyValue };

export interface WatchHandle {
  close(): void;
}

export interface WatchCallbacks {
  onEvent(ev: WatchEvent): void;
  /** Progress notification: everything up to `revision` has been delivered. */
  onProgress?(revision: number): void;
  /** The watch ended: `compacted` means the start revision is gone (HTTP 410). */
  onError(err: StoreError): void;
}

export type StoreErrorCode = 'NotFound' | 'AlreadyExists' | 'Conflict' | 'Compacted' | 'Unavailable';

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  readonly current: KeyValue | null;
  constructor(code: StoreErrorCode, message: string, current: KeyValue | null = null) {
    super(message);
    this.code = code;
    this.current = current;
  }
}

export interface Store {
  readonly kind: 'embedded' | 'etcd';
  get(key: string): Promise<KeyValue | null>;
  list(prefix: string, opts?: ListOptions): Promise<ListResult>;
  /** Count of live keys under a prefix (from startKey on, when given). */
  count(prefix: string, startKey?: string): Promise<number>;
  /** Create; fails with AlreadyExists if the key is live. Returns the new revision. */
  create(key: string, value: string): Promise<KeyValue>;
  /** Update guarded by modRevision; Conflict carries the current value. */
  update(key: string, value: string, expectedModRevision: number): Promise<KeyValue>;
  /**
   * Delete guarded by modRevision (0 = unconditional).
   * Returns the deleted value's last state and the delete revision.
   */
  delete(key: string, expectedModRevision: number): Promise<{ prev: KeyValue; revision: number }>;
  /** Watch a prefix for changes after `fromRevision` (exclusive). */
  watch(prefix: string, fromRevision: number, cb: WatchCallbacks): WatchHandle;
  currentRevision(): Promise<number>;
  compactedRevision(): Promise<number>;
  compact(revision: number): Promise<void>;
  close(): Promise<void>;
}

/** The smallest string greater than every string starting with `prefix`. */
export function prefixEnd(prefix: string): string {
  return prefix + '\uffff';
}
