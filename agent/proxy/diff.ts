// The difference between what a table holds and what it should hold, as `nft -f` lines for one
// atomic transaction. Element level: a chain is rewritten only when its fingerprint differs, map
// and set elements are added or deleted one by one. Chains and sets no longer wanted are
// flushed now and deleted by a later transaction (see docs/proxy.md). Pure.
import { TABLE, type Fragment } from './model.ts';
import type { Loaded } from './loaded.ts';
import {
  chainDecl,
  chainFingerprint,
  chainRules,
  elementLines,
  mapDecl,
  mapPrint,
  PRINTS_SET,
  printElement,
  setDecl,
  verdictText,
} from './nft-text.ts';
import { MAPS } from './render.ts';

const T = `ip ${TABLE}`;
/** The skeleton's maps: always there, changed element by element. */
const SHARED = new Set(MAPS.map((m) => m.name));

export interface Diff {
  lines: string[];
  /** Chains flushed now, to delete in a later transaction. */
  staleChains: string[];
  /** Sets to delete in a later transaction (rules using them are gone now). */
  staleSets: string[];
  /** Endpoint maps flushed now, to delete in a later transaction. */
  staleMaps: string[];
  /** How many chains were written. */
  chainsWritten: number;
}

export interface Pending {
  chains: string[];
  sets: string[];
  maps: string[];
}

export const noPending = (): Pending => ({ chains: [], sets: [], maps: [] });

export function diff(old: Loaded, want: Fragment, pending: Pending = noPending()): Diff {
  const lines: string[] = [];
  const wantChains = new Set(want.chains.map((c) => c.name));
  const wantSets = new Set(want.sets.map((s) => s.name));
  const wantMaps = new Set(want.maps.map((m) => m.name));

  // Deletions a previous transaction prepared (unless wanted again meanwhile).
  for (const m of pending.maps) if (!wantMaps.has(m)) lines.push(`delete map ${T} ${m}`);
  for (const c of pending.chains) if (!wantChains.has(c)) lines.push(`delete chain ${T} ${c}`);
  for (const s of pending.sets) if (!wantSets.has(s)) lines.push(`delete set ${T} ${s}`);

  // A set whose timeout changed is made again; the chains using it are rewritten around that.
  const reset = new Set<string>();
  for (const s of want.sets) {
    const had = old.sets.get(s.name);
    if (had === undefined) lines.push(setDecl(s));
    else if (had !== (s.timeout ?? 0)) reset.add(s.name);
  }
  const usesReset = (c: Fragment['chains'][number]) =>
    c.rules.some(
      (r) =>
        (r.action.a === 'update' && reset.has(r.action.set)) ||
        r.match.some((m) => m.m === 'inSet' && reset.has(m.set)),
    );
  // The fingerprints set follows every chain and endpoint map written or removed.
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
  for (const m of want.maps) if (!old.maps.has(m.name)) lines.push(mapDecl(m));
  for (const c of rewrite) lines.push(chainDecl(c));
  for (const c of rewrite) if (old.chains.has(c.name)) lines.push(`flush chain ${T} ${c.name}`);
  for (const s of want.sets) if (reset.has(s.name)) lines.push(`delete set ${T} ${s.name}`, setDecl(s));
  for (const c of rewrite) lines.push(...chainRules(c));

  const maps = new Set([...old.elements.keys(), ...want.elements.keys(), ...old.maps, ...wantMaps]);
  for (const map of maps) {
    const had = old.elements.get(map) ?? new Map<string, string>();
    const now = new Map([...(want.elements.get(map) ?? [])].map(([k, v]) => [k, verdictText(v)]));
    if (!SHARED.has(map)) {
      // An endpoint map is small: when anything in it changed, it is emptied and filled again.
      // Read back, only its fingerprint is known.
      const before = old.elements.has(map) ? mapPrint(had) : old.mapPrints.get(map);
      const after = wantMaps.has(map) ? mapPrint(now) : undefined;
      if (before === after && wantMaps.has(map)) continue;
      if (before !== undefined) printsDel.push(printElement(map, before));
      if (after !== undefined) printsAdd.push(printElement(map, after));
      if (old.maps.has(map) && (had.size || !old.elements.has(map))) lines.push(`flush map ${T} ${map}`);
      if (wantMaps.has(map))
        lines.push(
          ...elementLines(
            'add',
            map,
            [...now].map(([k, v]) => `${k} : ${v}`),
          ),
        );
      continue;
    }
    const del: string[] = [];
    const add: string[] = [];
    for (const [k, v] of had) if (now.get(k) !== v) del.push(k);
    for (const [k, v] of now) if (had.get(k) !== v) add.push(`${k} : ${v}`);
    lines.push(...elementLines('delete', map, del), ...elementLines('add', map, add));
  }

  const sets = new Set([...old.members.keys(), ...want.members.keys()]);
  for (const set of sets) {
    const had = old.members.get(set) ?? new Set<string>();
    const now = want.members.get(set) ?? new Set<string>();
    lines.push(
      ...elementLines(
        'delete',
        set,
        [...had].filter((v) => !now.has(v)),
      ),
      ...elementLines(
        'add',
        set,
        [...now].filter((v) => !had.has(v)),
      ),
    );
  }

  // After the map elements pointing at them are gone: empty the chains no longer wanted.
  const deleting = new Set([...pending.chains, ...pending.sets, ...pending.maps]);
  const staleChains: string[] = [];
  for (const [name, c] of old.chains)
    if (!wantChains.has(name) && !deleting.has(name)) {
      if (c.rules !== 0) lines.push(`flush chain ${T} ${name}`);
      if (c.fingerprint) printsDel.push(printElement(name, c.fingerprint));
      staleChains.push(name);
    }
  lines.push(...elementLines('delete', PRINTS_SET, printsDel), ...elementLines('add', PRINTS_SET, printsAdd));
  const staleSets = [...old.sets.keys()].filter(
    (s) => !wantSets.has(s) && !deleting.has(s) && (old.sets.get(s) ?? 0) > 0,
  );
  const staleMaps = [...old.maps].filter((m) => !SHARED.has(m) && !wantMaps.has(m) && !deleting.has(m));
  return { lines, staleChains, staleSets, staleMaps, chainsWritten: rewrite.length };
}
