// Keeps the proxy's tables (`ip skiff-proxy` and the shards `ip skiff-proxy-I`) equal to the render
// of the current Services and EndpointSlices. A full sync (at start, after any failure, and now and
// then) reads the tables back and diffs all of them, and deletes shards beyond the configured
// number; a partial sync re-renders only the Services marked changed and diffs, per table, their
// parts against what this applier last wrote for them, so a change of endpoints touches only its
// Service's shard. Each sync is one `nft -f -` transaction. Syncs are spaced by a
// token bucket (`burst` back to back, then one per `minIntervalMs`), so a storm of changes is
// coalesced into a few transactions.
import type { EndpointSlice, Service } from '../../controlplane/shared/kube/index.ts';
import { SERVICE_NAME_LABEL } from '../../controlplane/shared/kube/index.ts';
import { release } from 'node:os';
import { Claims, itemsOf, withoutItems, type Item } from './claims.ts';
import { carry, diff, hasPending, noPending, type Pending } from './diff.ts';
import { emptyLoaded, parseReadBack, summarize } from './loaded.ts';
import { DEFAULT_SHARDS, MAX_SHARDS, emptyFragment, mergeFragments, type Fragment } from './model.ts';
import { skeletonLines } from './nft-text.ts';
import type { Nft } from './nft.ts';
import { assembleParts, partsByTable, renderService, specOf, type ProxyNodeFacts } from './render.ts';

export interface ProxySource {
  services: Map<string, Service>;
  /** Keyed `namespace/name` of the slice. */
  endpointSlices: Map<string, EndpointSlice>;
}

export interface SyncResult {
  full: boolean;
  /** Services (keys) this sync re-rendered. */
  keys: string[];
  durationMs: number;
  /** Changes in the transaction, in lines, not counting declarations (0: nothing needed changing, nothing was sent). */
  lines: number;
  chainsWritten: number;
  services: number;
  endpoints: number;
}

export interface ApplierOptions {
  nft: Nft;
  facts: () => ProxyNodeFacts;
  source: () => ProxySource;
  minIntervalMs?: number;
  burst?: number;
  /** Delay before chains flushed by a sync are deleted. */
  cleanupDelayMs?: number;
  /** Full resync period (repairs anything changed behind the agent's back). */
  resyncMs?: number;
  /** The cleanup deletes maps and the chains they pointed at in separate transactions (default: kernel before 6.2). */
  mapsBeforeChains?: boolean;
  /** Shard tables the Services are spread over (docs/proxy.md, "Tables"); others of ours are deleted. */
  shards?: number;
  log?: (s: string) => void;
  onSynced?: (r: SyncResult) => void;
  onFailed?: (e: Error) => void;
}

/** Whether the running kernel is older than MAJOR.MINOR. */
export function kernelBefore(major: number, minor: number, rel = release()): boolean {
  const [a, b] = rel.split('.').map((x) => Number.parseInt(x, 10));
  return a < major || (a === major && b < minor);
}

/** `to.push(...from)` without passing every line as an argument (a full sync has over 100,000). */
function append(to: string[], from: string[]): void {
  for (const l of from) to.push(l);
}

/** The elements of the tables' fixed maps and sets a Service's parts (by table) hold. */
function itemsOfParts(parts: Map<string, Fragment>): Set<Item> {
  const out = new Set<Item>();
  for (const [t, part] of parts) for (const i of itemsOf(t, part)) out.add(i);
  return out;
}

const sliceService = (s: EndpointSlice) => {
  const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
  return svc ? `${s.metadata.namespace}/${svc}` : undefined;
};

export class ProxyApplier {
  private readonly o: Required<Omit<ApplierOptions, 'onSynced' | 'onFailed'>> &
    Pick<ApplierOptions, 'onSynced' | 'onFailed'>;
  /** What the tables hold per Service (its parts in all of them together), as last written. */
  private applied = new Map<string, Fragment>();
  /** Which Services claim each element of the tables' fixed maps and sets, as last written. */
  private claims = new Claims();
  private factsKey = '';
  /** Per table: deletions left for the cleanup. */
  private pending = new Map<string, Pending>();
  /** Service key → its slices' keys, and each slice's service as last seen. */
  private slicesBySvc = new Map<string, Set<string>>();
  private sliceOwner = new Map<string, string>();
  private dirty = new Set<string>();
  private endpointCount = new Map<string, number>();
  private needFull = true;
  private running = false;
  private timer?: NodeJS.Timeout;
  private cleanupTimer?: NodeJS.Timeout;
  private resyncTimer?: NodeJS.Timeout;
  private tokens: number;
  private refillAt = Date.now();
  private stopped = false;
  private idle: (() => void)[] = [];
  lastResult?: SyncResult;
  lastError?: Error;

  constructor(opts: ApplierOptions) {
    this.o = {
      ...opts,
      // Explicit undefineds must not override the defaults.
      // 30 ms: a change waits little for its sync (100 ms doubled the median programming latency).
      minIntervalMs: opts.minIntervalMs ?? 30,
      burst: opts.burst ?? 2,
      cleanupDelayMs: opts.cleanupDelayMs ?? 1000,
      resyncMs: opts.resyncMs ?? 10 * 60_000,
      mapsBeforeChains: opts.mapsBeforeChains ?? kernelBefore(6, 2),
      shards: Math.min(MAX_SHARDS, Math.max(1, Math.floor(opts.shards ?? DEFAULT_SHARDS))),
      log: opts.log ?? (() => {}),
    };
    this.tokens = this.o.burst;
  }

  start(): void {
    this.resyncTimer = setInterval(() => this.resync(), this.o.resyncMs);
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    for (const t of [this.timer, this.cleanupTimer]) clearTimeout(t);
    clearInterval(this.resyncTimer);
    this.o.nft.close?.();
  }

  /** Services whose Service object changed (keys `namespace/name`). */
  servicesChanged(keys: Iterable<string>): void {
    for (const k of keys) this.dirty.add(k);
    this.schedule();
  }

  /** EndpointSlices changed (keys `namespace/name` of the slices). */
  slicesChanged(keys: Iterable<string>): void {
    const slices = this.o.source().endpointSlices;
    for (const k of keys) {
      const before = this.sliceOwner.get(k);
      const slice = slices.get(k);
      const now = slice ? sliceService(slice) : undefined;
      if (before && before !== now) {
        this.slicesBySvc.get(before)?.delete(k);
        this.dirty.add(before);
      }
      if (now) {
        this.sliceOwner.set(k, now);
        let set = this.slicesBySvc.get(now);
        if (!set) this.slicesBySvc.set(now, (set = new Set()));
        set.add(k);
        this.dirty.add(now);
      } else this.sliceOwner.delete(k);
    }
    this.schedule();
  }

  /** Asks for a full sync (reads the tables back). */
  resync(): void {
    this.needFull = true;
    this.schedule();
  }

  /** Resolves once no sync is running or waiting. */
  settled(): Promise<void> {
    if (!this.running && !this.timer && !this.dirty.size && !this.needFull) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  private schedule(): void {
    if (this.stopped || this.running || this.timer) return;
    if (!this.dirty.size && !this.needFull) return;
    const now = Date.now();
    const gained = Math.floor((now - this.refillAt) / this.o.minIntervalMs);
    if (gained > 0) {
      this.tokens = Math.min(this.o.burst, this.tokens + gained);
      this.refillAt += gained * this.o.minIntervalMs;
    }
    if (this.tokens >= 1) {
      this.tokens--;
      // A zero timeout: changes arriving in the same tick join this sync.
      this.timer = setTimeout(() => this.run(), 0);
    } else
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          this.schedule();
        },
        this.refillAt + this.o.minIntervalMs - now,
      );
  }

  private async run(): Promise<void> {
    this.timer = undefined;
    this.running = true;
    const full = this.needFull;
    const keys = this.dirty;
    this.needFull = false;
    this.dirty = new Set();
    try {
      const r = full ? await this.fullSync() : await this.partialSync(keys);
      this.lastResult = r;
      this.lastError = undefined;
      this.o.onSynced?.(r);
    } catch (e) {
      if (this.stopped) return; // stopped while the sync was out: nothing more is written
      this.lastError = e as Error;
      this.o.log(`proxy sync failed (${full ? 'full' : 'partial'}): ${(e as Error).message}; a full sync follows`);
      this.needFull = true;
      for (const k of keys) this.dirty.add(k);
      this.o.onFailed?.(e as Error);
    } finally {
      this.running = false;
      if ([...this.pending.values()].some(hasPending)) {
        clearTimeout(this.cleanupTimer);
        this.cleanupTimer = setTimeout(() => this.run0(), this.o.cleanupDelayMs);
      }
      if (this.lastError) {
        // After a failure, wait a little before the full sync instead of spinning.
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.schedule();
        }, 1000);
      } else this.schedule();
      if (!this.running && !this.timer && !this.dirty.size && !this.needFull) for (const r of this.idle.splice(0)) r();
    }
  }

  /** A sync with nothing dirty: the cleanup, which carries out the pending deletions. */
  private run0(): void {
    if (this.stopped) return;
    if (this.running || this.timer) {
      this.cleanupTimer = setTimeout(() => this.run0(), this.o.cleanupDelayMs);
      return;
    }
    this.timer = setTimeout(() => this.run(), 0);
  }

  /** A Service's EndpointSlices (from the index the applier keeps). */
  slicesFor(key: string, src: ProxySource = this.o.source()): EndpointSlice[] {
    const out: EndpointSlice[] = [];
    for (const k of this.slicesBySvc.get(key) ?? []) {
      const s = src.endpointSlices.get(k);
      if (s) out.push(s);
    }
    return out;
  }

  private reindex(src: ProxySource): void {
    this.slicesBySvc.clear();
    this.sliceOwner.clear();
    for (const [k, s] of src.endpointSlices) {
      const owner = sliceService(s);
      if (!owner) continue;
      this.sliceOwner.set(k, owner);
      let set = this.slicesBySvc.get(owner);
      if (!set) this.slicesBySvc.set(owner, (set = new Set()));
      set.add(k);
    }
  }

  /**
   * One Service's fragment; a Service the render cannot take (a shape nothing else refused)
   * gets none and is logged, so it cannot stop every other Service's syncs.
   */
  private render(k: string, svc: Service, src: ProxySource, facts: ProxyNodeFacts): Fragment {
    try {
      return renderService(svc, this.slicesFor(k, src), facts);
    } catch (e) {
      this.o.log(`proxy: Service ${k} is not programmed: ${(e as Error).message}`);
      return emptyFragment();
    }
  }

  private async fullSync(): Promise<SyncResult> {
    const t0 = performance.now();
    const facts = this.o.facts();
    const src = this.o.source();
    this.reindex(src);
    const frags = new Map<string, Fragment>();
    for (const [k, svc] of src.services) frags.set(k, this.render(k, svc, src, facts));
    // Split once: for the tables, and for the claims.
    const split = new Map([...frags].map(([k, f]) => [k, this.parts(k, f)]));
    const want = assembleParts(facts, split, this.o.shards);
    const read = await this.o.nft.readBack([...want.keys()].map(specOf));
    const loaded = read ? parseReadBack(read) : new Map();
    const lines: string[] = [];
    const pending = new Map<string, Pending>();
    let chainsWritten = 0;
    let changes = 0;
    for (const [t, f] of want) {
      const d = diff(specOf(t), loaded.get(t) ?? emptyLoaded(), f);
      // The skeleton only where something changes: a table a transaction touches is validated whole.
      if (d.lines.length) append(lines, [...skeletonLines(specOf(t)), ...d.lines]);
      changes += d.lines.length;
      chainsWritten += d.chainsWritten;
      pending.set(t, carry(noPending(), f, d));
    }
    // Shards of an earlier run with more of them: their Services are in the tables above now.
    for (const t of loaded.keys())
      if (!want.has(t)) {
        lines.push(`delete table ip ${t}`);
        changes++;
      }
    // A stop during the read-back (seconds at 10,000 Services) writes nothing after it.
    if (this.stopped) throw new Error('the proxy applier was stopped');
    if (lines.length) await this.o.nft.apply(`${lines.join('\n')}\n`);
    this.applied = frags;
    this.claims = Claims.of([...split].map(([k, p]) => [k, itemsOfParts(p)]));
    this.factsKey = JSON.stringify(facts);
    this.pending = pending;
    return this.result(true, [...src.services.keys()], t0, changes, chainsWritten);
  }

  private async partialSync(keys: Set<string>): Promise<SyncResult> {
    const t0 = performance.now();
    const facts = this.o.facts();
    if (JSON.stringify(facts) !== this.factsKey) return this.fullSync();
    const src = this.o.source();
    // Per table: the changed Services' parts in it, before and after.
    const before = new Map<string, Fragment[]>();
    const after = new Map<string, Fragment[]>();
    const add = (m: Map<string, Fragment[]>, t: string, f: Fragment) => {
      const l = m.get(t);
      if (l) l.push(f);
      else m.set(t, [f]);
    };
    // What each changed Service's part is now, or undefined when it was gone at the render (a
    // Service deleted while the transaction is out keeps what the kernel got, for the next sync).
    const rendered = new Map<string, Fragment | undefined>();
    // Elements of the fixed maps and sets are diffed as their first claimants have them (claims.ts).
    const parts = new Map<string, { before: Map<string, Fragment>; after: Map<string, Fragment> }>();
    const changes: { svc: string; before: Set<Item>; after: Set<Item> }[] = [];
    const touched = new Set<Item>();
    for (const k of keys) {
      const prev = this.applied.get(k) ?? emptyFragment();
      const svc = src.services.get(k);
      const f = svc ? this.render(k, svc, src, facts) : emptyFragment();
      rendered.set(k, svc ? f : undefined);
      const p = this.parts(k, prev);
      const n = this.parts(k, f);
      for (const [t, part] of p) add(before, t, withoutItems(t, part));
      for (const [t, part] of n) add(after, t, withoutItems(t, part));
      parts.set(k, { before: p, after: n });
      const change = { svc: k, before: itemsOfParts(p), after: itemsOfParts(n) };
      changes.push(change);
      for (const i of change.before) touched.add(i);
      for (const i of change.after) touched.add(i);
    }
    const plan = this.claims.plan(changes);
    // Unchanged Services that first-claim a touched item (rarely any): split once each.
    const unchanged = new Map<string, Map<string, Fragment>>();
    const applied = (k: string, t: string) => {
      let p = unchanged.get(k);
      if (!p) unchanged.set(k, (p = this.parts(k, this.applied.get(k) ?? emptyFragment())));
      return p.get(t) ?? emptyFragment();
    };
    const was = this.claims.winners(touched, (k, t) => parts.get(k)?.before.get(t) ?? applied(k, t));
    const will = this.claims.winners(touched, (k, t) => parts.get(k)?.after.get(t) ?? applied(k, t), plan);
    for (const [t, f] of was) add(before, t, f);
    for (const [t, f] of will) add(after, t, f);
    // Deletions wait for the cleanup (nothing dirty): they cost nft a dump of the whole table.
    const cleanup = keys.size === 0;
    const tables = new Set([...after.keys(), ...(cleanup ? this.pending.keys() : [])]);
    const lines: string[] = [];
    let chainsWritten = 0;
    const nextPending = new Map<string, Pending>();
    for (const t of tables) {
      const want = mergeFragments(after.get(t) ?? []);
      const had = this.pending.get(t) ?? noPending();
      const d = diff(specOf(t), summarize(mergeFragments(before.get(t) ?? [])), want, cleanup ? had : noPending(), {
        mapsBeforeChains: this.o.mapsBeforeChains,
      });
      append(lines, d.lines);
      chainsWritten += d.chainsWritten;
      nextPending.set(t, carry(cleanup ? noPending() : had, want, d));
    }
    if (lines.length) await this.o.nft.apply(`${lines.join('\n')}\n`);
    this.claims.commit(plan);
    for (const [k, f] of rendered) {
      if (f) this.applied.set(k, f);
      else this.applied.delete(k);
    }
    for (const [t, p] of nextPending) this.pending.set(t, p);
    return this.result(false, [...keys], t0, lines.length, chainsWritten);
  }

  /** A Service's parts of the shared table and of its shard. */
  private parts(k: string, f: Fragment): Map<string, Fragment> {
    return partsByTable(k, f, this.o.shards);
  }

  private result(full: boolean, keys: string[], t0: number, lines: number, chainsWritten: number): SyncResult {
    let endpoints = 0;
    for (const k of keys) {
      const f = this.applied.get(k);
      this.endpointCount.set(k, f ? endpointsIn(f) : 0);
      if (!f) this.endpointCount.delete(k);
    }
    if (full) for (const k of [...this.endpointCount.keys()]) if (!this.applied.has(k)) this.endpointCount.delete(k);
    for (const n of this.endpointCount.values()) endpoints += n;
    return {
      full,
      keys,
      durationMs: performance.now() - t0,
      lines,
      chainsWritten,
      services: this.applied.size,
      endpoints,
    };
  }
}

/**
 * A Service's programmed endpoints, one per service port and endpoint: the elements of its
 * endpoint data maps over all endpoints (the `local-` ones hold a subset), or with session
 * affinity its endpoint chains.
 */
export function endpointsIn(f: Fragment): number {
  let n = f.chains.filter((c) => c.name.startsWith('ep-')).length;
  for (const m of f.maps)
    if (m.value === 'endpoint' && !m.name.startsWith('local-')) n += f.elements.get(m.name)?.size ?? 0;
  return n;
}
