// The difference between what a table holds and what it should hold, as `nft -f` lines for one
// atomic transaction. Element level: a chain is rewritten only when its fingerprint differs, an
// endpoint map (named by what it holds) is declared with its elements when new, and the
// elements of the shared maps and sets are added or deleted one by one. Whatever is no longer
// wanted is emptied now and deleted by a later transaction, the cleanup (see docs/proxy.md). Pure.
//
// A change of endpoints is written only with commands for which nft 1.0.6 reads no more than the
// list of tables from the kernel (`add chain`, `flush chain`, `add map|set` with their elements):
// `add rule`, `add|delete element`, `flush map` and `delete chain|map|set` make it dump every
// chain and set of the table first, which grows with the number of Services. Those remain for
// the shared maps (a Service added or removed, or going to or from no endpoints), full syncs and
// the cleanup.
import type { Fragment, TableSpec } from './model.ts';
import type { Loaded } from './loaded.ts';
import {
  chainBlock,
  chainDecl,
  chainFingerprint,
  elementLines,
  mapDecl,
  PRINTS_SET,
  printElement,
  printLines,
  setDecl,
  setRefs,
  valueText,
} from './nft-text.ts';

export interface Diff {
  lines: string[];
  /** Chains flushed now, to delete in a later transaction. */
  staleChains: string[];
  /** Sets to delete in a later transaction (rules using them are gone now). */
  staleSets: string[];
  /** Endpoint maps no rule uses any more, to delete in a later transaction. */
  staleMaps: string[];
  /** Fingerprint elements replaced now, to delete in a later transaction. */
  stalePrints: string[];
  /** How many chains were written. */
  chainsWritten: number;
}

/** Deletions left for the cleanup transaction. */
export interface Pending {
  chains: string[];
  sets: string[];
  maps: string[];
  prints: string[];
}

export const noPending = (): Pending => ({ chains: [], sets: [], maps: [], prints: [] });
export const hasPending = (p: Pending) => p.chains.length + p.sets.length + p.maps.length + p.prints.length > 0;

export interface DiffOptions {
  /**
   * Kernels before 6.2 can refuse to delete a chain that a map deleted in the same transaction
   * still pointed at: then the cleanup deletes the maps, and the chains one cleanup later.
   */
  mapsBeforeChains?: boolean;
}

/** One table's difference (`spec`: the table, its fixed maps and sets). */
export function diff(
  spec: TableSpec,
  old: Loaded,
  want: Fragment,
  pending: Pending = noPending(),
  opts: DiffOptions = {},
): Diff {
  const t = spec.name;
  const T = `ip ${t}`;
  /** The table's fixed maps: always there, changed element by element. */
  const SHARED = new Set(spec.maps.map((m) => m.name));
  const lines: string[] = [];
  const wantChains = new Set(want.chains.map((c) => c.name));
  const wantSets = new Set(want.sets.map((s) => s.name));
  const wantMaps = new Set(want.maps.map((m) => m.name));
  const wantPrints = new Set(want.chains.map((c) => printElement(c.name, chainFingerprint(c))));

  // Deletions an earlier transaction prepared (unless wanted again meanwhile).
  const dropMaps = pending.maps.filter((m) => !wantMaps.has(m));
  for (const m of dropMaps) lines.push(`delete map ${T} ${m}`);
  const chainsLater = opts.mapsBeforeChains && dropMaps.length ? pending.chains.filter((c) => !wantChains.has(c)) : [];
  for (const c of pending.chains)
    if (!wantChains.has(c) && !chainsLater.includes(c)) lines.push(`delete chain ${T} ${c}`);
  for (const s of pending.sets) if (!wantSets.has(s)) lines.push(`delete set ${T} ${s}`);
  lines.push(
    ...elementLines(
      t,
      'delete',
      PRINTS_SET,
      pending.prints.filter((p) => !wantPrints.has(p)),
    ),
  );

  // Sets and maps this transaction declares: the rules written below may name them.
  const declared = new Set<string>();
  const decl = new Map<string, string>([
    ...spec.maps.map((m): [string, string] => [m.name, mapDecl(t, m)]),
    ...spec.sets.map((s): [string, string] => [s.name, setDecl(t, s)]),
    ...want.maps.map((m): [string, string] => [m.name, mapDecl(t, m)]),
    ...want.sets.map((s): [string, string] => [s.name, setDecl(t, s)]),
  ]);
  // A set whose timeout changed is made again; the chains using it are rewritten around that.
  const reset = new Set<string>();
  for (const s of want.sets) {
    const had = old.sets.get(s.name);
    if (had === undefined) {
      lines.push(setDecl(t, s));
      declared.add(s.name);
    } else if (had !== (s.timeout ?? 0)) reset.add(s.name);
  }
  const usesReset = (c: Fragment['chains'][number]) => setRefs(c).some((s) => reset.has(s));
  // The fingerprints set follows every chain written or removed.
  const printsDel: string[] = [...old.orphanPrints];
  const printsAdd: string[] = [];
  const rewrite = want.chains.filter((c) => {
    const had = old.chains.get(c.name);
    const fp = chainFingerprint(c);
    const stale =
      !had || had.fingerprint !== fp || (had.rules !== undefined && had.rules !== c.rules.length) || usesReset(c);
    if (stale) {
      if (had?.fingerprint) printsDel.push(printElement(c.name, had.fingerprint));
      printsAdd.push(printElement(c.name, fp));
    }
    return stale;
  });
  for (const c of rewrite) if (!old.chains.has(c.name)) lines.push(chainDecl(t, c));
  for (const c of rewrite) if (old.chains.has(c.name)) lines.push(`flush chain ${T} ${c.name}`);
  for (const s of want.sets)
    if (reset.has(s.name)) {
      lines.push(`delete set ${T} ${s.name}`, setDecl(t, s));
      declared.add(s.name);
    }
  // An endpoint map is written once, with its elements, after the chains they go to.
  for (const m of want.maps)
    if (!old.maps.has(m.name)) {
      const els = [...(want.elements.get(m.name) ?? [])].map(([k, v]) => `${k} : ${valueText(v)}`);
      lines.push(mapDecl(t, m, els));
      declared.add(m.name);
    }
  // nft must find every set a rule names in its cache, which holds only what this transaction declares.
  for (const c of rewrite)
    for (const ref of setRefs(c)) {
      if (declared.has(ref)) continue;
      const line = decl.get(ref);
      if (!line) throw new Error(`chain ${c.name} names set ${ref}, which is not declared`);
      lines.push(line);
      declared.add(ref);
    }
  for (const c of rewrite) lines.push(chainBlock(t, c));

  for (const map of SHARED) {
    const had = old.elements.get(map) ?? new Map<string, string>();
    const now = new Map([...(want.elements.get(map) ?? [])].map(([k, v]) => [k, valueText(v)]));
    const del: string[] = [];
    const add: string[] = [];
    for (const [k, v] of had) if (now.get(k) !== v) del.push(k);
    for (const [k, v] of now) if (had.get(k) !== v) add.push(`${k} : ${v}`);
    lines.push(...elementLines(t, 'delete', map, del), ...elementLines(t, 'add', map, add));
  }

  const sets = new Set([...old.members.keys(), ...want.members.keys()]);
  for (const set of sets) {
    const had = old.members.get(set) ?? new Set<string>();
    const now = want.members.get(set) ?? new Set<string>();
    lines.push(
      ...elementLines(
        t,
        'delete',
        set,
        [...had].filter((v) => !now.has(v)),
      ),
      ...elementLines(
        t,
        'add',
        set,
        [...now].filter((v) => !had.has(v)),
      ),
    );
  }

  // After the map elements pointing at them are gone: empty the chains no longer wanted.
  const deleting = new Set([...pending.chains, ...pending.sets, ...pending.maps]);
  const staleChains: string[] = [...chainsLater];
  for (const [name, c] of old.chains)
    if (!wantChains.has(name) && !deleting.has(name)) {
      if (c.rules !== 0) lines.push(`flush chain ${T} ${name}`);
      if (c.fingerprint) printsDel.push(printElement(name, c.fingerprint));
      staleChains.push(name);
    }
  lines.push(...printLines(t, printsAdd));
  const adding = new Set(printsAdd);
  const staleSets = [...old.sets.keys()].filter(
    (s) => !wantSets.has(s) && !deleting.has(s) && (old.sets.get(s) ?? 0) > 0,
  );
  const staleMaps = [...old.maps].filter((m) => !SHARED.has(m) && !wantMaps.has(m) && !deleting.has(m));
  return {
    lines,
    staleChains,
    staleSets,
    staleMaps,
    stalePrints: [...new Set(printsDel)].filter((p) => !adding.has(p)),
    chainsWritten: rewrite.length,
  };
}

/** What the cleanup still has to delete after a sync that wrote `want` and returned `d`. */
export function carry(p: Pending, want: Fragment, d: Diff): Pending {
  const chains = new Set(want.chains.map((c) => c.name));
  const sets = new Set(want.sets.map((s) => s.name));
  const maps = new Set(want.maps.map((m) => m.name));
  const prints = new Set(want.chains.map((c) => printElement(c.name, chainFingerprint(c))));
  const join = (a: string[], b: string[], keep: Set<string>) => [...new Set([...a.filter((x) => !keep.has(x)), ...b])];
  return {
    chains: join(p.chains, d.staleChains, chains),
    sets: join(p.sets, d.staleSets, sets),
    maps: join(p.maps, d.staleMaps, maps),
    prints: join(p.prints, d.stalePrints, prints),
  };
}
