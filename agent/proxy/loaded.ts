// What a table holds, in the terms the diff needs: the chains with their fingerprints, the maps
// and sets, and the elements of the shared maps and static sets. Built either from what the
// applier wrote (a partial sync: exact, with rule counts and every element) or read back from
// the kernel (a full sync: names from `nft list chains|sets|maps`, fingerprints from the
// `fingerprints` set, elements of the shared maps only; an endpoint map's name says what it
// holds). Pure.
import { chainFingerprint, PRINTS_SET, printHex, printKey, quads, valueText } from './nft-text.ts';
import { shardIndex, TABLE, type Fragment } from './model.ts';

export interface LoadedChain {
  fingerprint?: string;
  /** Rules in the chain, when known (read back, only the fingerprint is). */
  rules?: number;
}

export interface Loaded {
  chains: Map<string, LoadedChain>;
  /** Every map declared (the shared ones and the service ports' endpoint maps). */
  maps: Set<string>;
  /** Set name → timeout in seconds (0 for a static set). */
  sets: Map<string, number>;
  /** Map name → key text → value text (`goto CHAIN`, `drop`, or `IP . PORT`). */
  elements: Map<string, Map<string, string>>;
  /** Static set name → members. */
  members: Map<string, Set<string>>;
  /**
   * Fingerprint elements to remove: of chains that no longer exist, and every one of a chain that
   * has several (a partial sync adds the new one at once and deletes the old one later: if the
   * agent stopped in between, the chain is unknown and written again).
   */
  orphanPrints: string[];
}

export function emptyLoaded(): Loaded {
  return {
    chains: new Map(),
    maps: new Set(),
    sets: new Map(),
    elements: new Map(),
    members: new Map(),
    orphanPrints: [],
  };
}

/** The state a fragment describes once written. */
export function summarize(f: Fragment): Loaded {
  const out = emptyLoaded();
  for (const c of f.chains) out.chains.set(c.name, { fingerprint: chainFingerprint(c), rules: c.rules.length });
  for (const m of f.maps) out.maps.add(m.name);
  for (const s of f.sets) out.sets.set(s.name, s.timeout ?? 0);
  for (const [map, els] of f.elements) out.elements.set(map, new Map([...els].map(([k, v]) => [k, valueText(v)])));
  for (const [set, vals] of f.members) out.members.set(set, new Set(vals));
  return out;
}

/** `nft -j` outputs of a full sync's read-back. */
export interface ReadBack {
  /** `list chains ip` */
  chains: string;
  /** `-t list sets ip`, `-t list maps ip` (declarations, no elements) */
  sets: string;
  maps: string;
  /** `list map|set ip TABLE NAME` of each shared map, the static sets and the fingerprints */
  elements: string[];
}

type Json = Record<string, unknown>;

function keyText(k: unknown): string {
  if (k && typeof k === 'object' && 'concat' in k) return (k.concat as unknown[]).map(String).join(' . ');
  return String(k);
}

function verdictOf(v: unknown): string {
  if (v && typeof v === 'object') {
    if ('concat' in v) return keyText(v);
    if ('goto' in v) return `goto ${(v.goto as Json).target}`;
    if ('jump' in v) return `jump ${(v.jump as Json).target}`;
    return Object.keys(v)[0];
  }
  return String(v);
}

/** Whether a table is one of the proxy's (the shared one or a shard). */
export const isProxyTable = (t: string) => t === TABLE || shardIndex(t) !== undefined;

/** The objects of one kind in an `nft -j` output, by table, in the proxy's tables only. */
function byTable(json: string, kind: string): Map<string, Json[]> {
  const out = new Map<string, Json[]>();
  for (const i of (JSON.parse(json || '{}') as { nftables?: Json[] }).nftables ?? []) {
    const o = i[kind] as Json | undefined;
    if (!o || !isProxyTable(String(o.table))) continue;
    const list = out.get(String(o.table));
    if (list) list.push(o);
    else out.set(String(o.table), [o]);
  }
  return out;
}

/** Every table of the proxy as read back (nft 1.0.x JSON schema 1), by name. */
export function parseReadBack(r: ReadBack): Map<string, Loaded> {
  const out = new Map<string, Loaded>();
  const of = (t: string) => {
    let l = out.get(t);
    if (!l) out.set(t, (l = emptyLoaded()));
    return l;
  };
  for (const [t, cs] of byTable(r.chains, 'chain')) for (const c of cs) of(t).chains.set(String(c.name), {});
  for (const [t, ms] of byTable(r.maps, 'map')) for (const m of ms) of(t).maps.add(String(m.name));
  for (const [t, ss] of byTable(r.sets, 'set'))
    for (const s of ss)
      if (s.name !== PRINTS_SET) of(t).sets.set(String(s.name), typeof s.timeout === 'number' ? s.timeout : 0);
  const prints = new Map<string, Map<string, string[]>>();
  for (const json of r.elements) {
    for (const [t, ms] of byTable(json, 'map'))
      for (const m of ms) {
        const els = new Map<string, string>();
        for (const e of (m.elem as [unknown, unknown][]) ?? []) els.set(keyText(e[0]), verdictOf(e[1]));
        of(t).elements.set(String(m.name), els);
      }
    for (const [t, ss] of byTable(json, 'set'))
      for (const s of ss) {
        const elems = ((s.elem as unknown[]) ?? []).map(keyText);
        if (s.name !== PRINTS_SET) of(t).members.set(String(s.name), new Set(elems));
        else {
          let p = prints.get(t);
          if (!p) prints.set(t, (p = new Map()));
          for (const e of elems) {
            const q = e.split(' . ');
            const key = q.slice(0, 2).join(' . ');
            p.set(key, [...(p.get(key) ?? []), printHex(q.slice(2))]);
          }
        }
      }
  }
  for (const [t, l] of out) {
    const p = prints.get(t) ?? new Map<string, string[]>();
    const used = new Set<string>();
    for (const [name, c] of l.chains) {
      const fps = p.get(printKey(name));
      if (fps?.length !== 1) continue;
      c.fingerprint = fps[0];
      used.add(printKey(name));
    }
    for (const [k, fps] of p) if (!used.has(k)) for (const fp of fps) l.orphanPrints.push(`${k} . ${quads(fp)}`);
  }
  return out;
}
