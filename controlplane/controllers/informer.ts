// A local cache of one resource kept by list + watch through the registry (the same semantics
// a client gets from the API: initial state, then changes, resumed from the last revision and
// relisted after a 410). Controllers read from it and are told which objects changed.
import type { Registry } from '../api/registry.ts';
import type { Resource } from '../api/resources.ts';
import type { KubeObject, Obj } from '../shared/kube/index.ts';

export const keyOf = (o: KubeObject | Obj): string =>
  o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : String(o.metadata.name);

type Handler<T> = (type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: T, old?: T) => void;

/** A cache of one kind; T is the kind's typed model (Obj where a controller is not typed yet). */
export class Informer<T extends KubeObject | Obj = Obj> {
  readonly res: Resource;
  private reg: Registry;
  private items = new Map<string, T>();
  private handlers: Handler<T>[] = [];
  private watch: { close(): void } | null = null;
  private lastRv = '';
  private stopped = false;
  private readyResolve!: () => void;
  /** Resolves once the initial list is in the cache. */
  readonly ready: Promise<void>;
  private initial = true;

  constructor(reg: Registry, res: Resource) {
    this.reg = reg;
    this.res = res;
    this.ready = new Promise((r) => {
      this.readyResolve = r;
    });
  }

  onChange(fn: Handler<T>) {
    this.handlers.push(fn);
  }

  start() {
    if (this.stopped) return;
    const resume = this.lastRv && !this.initial ? this.lastRv : undefined;
    const seen = new Set<string>();
    const w = this.reg.watch(
      this.res,
      undefined,
      { labels: [], fields: [], resourceVersion: resume, sendInitialEvents: resume ? undefined : true },
      (type, raw) => {
        const o = raw as T; // the registry hands back objects of this informer's kind
        if (type === 'BOOKMARK') {
          if (o.metadata?.annotations?.['k8s.io/initial-events-end'] === 'true') {
            // Objects that vanished while we were not watching.
            for (const [k, old] of [...this.items])
              if (!seen.has(k)) {
                this.items.delete(k);
                this.emit('DELETED', old);
              }
            this.initial = false;
            this.readyResolve();
          }
          if (o.metadata?.resourceVersion) this.lastRv = o.metadata.resourceVersion;
          return;
        }
        if (o.metadata?.resourceVersion) this.lastRv = o.metadata.resourceVersion;
        const k = keyOf(o);
        if (this.initial) seen.add(k);
        const old = this.items.get(k);
        if (type === 'DELETED') {
          this.items.delete(k);
          this.emit('DELETED', o, old);
          return;
        }
        if (old && old.metadata.resourceVersion === o.metadata.resourceVersion) return;
        this.items.set(k, o);
        this.emit(old ? 'MODIFIED' : 'ADDED', o, old);
      },
      () => {
        // Too old (compacted) or a store error: relist from scratch after a pause.
        this.watch?.close();
        this.initial = true;
        if (!this.stopped) setTimeout(() => this.start(), 1000);
      },
    );
    this.watch = w;
  }

  private emit(type: 'ADDED' | 'MODIFIED' | 'DELETED', o: T, old?: T) {
    for (const h of this.handlers) h(type, o, old);
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }
  list(namespace?: string): T[] {
    const all = [...this.items.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata.namespace === namespace);
  }

  stop() {
    this.stopped = true;
    this.watch?.close();
  }
}
