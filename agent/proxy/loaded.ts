// What a table holds, in the terms the diff needs: each chain's fingerprint (the comment on its
// first rule) and rule count, the sets, and every map and static-set element. Built either from
// `nft -j list table` (a full sync) or from fragments the applier wrote (a partial sync). Pure.
import { chainFingerprint, verdictText } from './nft-text.ts';
import type { Fragment } from './model.ts';

export interface LoadedChain {
  fingerprint?: string;
  rules: number;
}

export interface Loaded {
  chains: Map<string, LoadedChain>;
  /** Every map declared (the shared ones and the service ports' endpoint maps). */
  maps: Set<string>;
  /** Set name → timeout in seconds (0 for a static set). */
  sets: Map<string, number>;
  /** Map name → key text → verdict text (`goto CHAIN` or `drop`). */
  elements: Map<string, Map<string, string>>;
  /** Static set name → members. */
  members: Map<string, Set<string>>;
}

export function emptyLoaded(): Loaded {
  return { chains: new Map(), maps: new Set(), sets: new Map(), elements: new Map(), members: new Map() };
}

/** The state a fragment describes once written. */
export function summarize(f: Fragment): Loaded {
  const out = emptyLoaded();
  for (const c of f.chains) out.chains.set(c.name, { fingerprint: chainFingerprint(c), rules: c.rules.length });
  for (const m of f.maps) out.maps.add(m.name);
  for (const s of f.sets) out.sets.set(s.name, s.timeout ?? 0);
  for (const [map, els] of f.elements) out.elements.set(map, new Map([...els].map(([k, v]) => [k, verdictText(v)])));
  for (const [set, vals] of f.members) out.members.set(set, new Set(vals));
  return out;
}

type Json = Record<string, unknown>;

function keyText(k: unknown): string {
  if (k && typeof k === 'object' && 'concat' in k) return (k.concat as unknown[]).map(String).join(' . ');
  return String(k);
}

function verdictOf(v: unknown): string {
  if (v && typeof v === 'object') {
    if ('goto' in v) return `goto ${(v.goto as Json).target}`;
    if ('jump' in v) return `jump ${(v.jump as Json).target}`;
    return Object.keys(v)[0];
  }
  return String(v);
}

/** Parses `nft -j list table ip skiff-proxy` output (nft 1.0.x JSON schema 1). */
export function parseLoaded(json: string): Loaded {
  const out = emptyLoaded();
  const items = (JSON.parse(json) as { nftables: Json[] }).nftables ?? [];
  for (const item of items) {
    if (item.chain) {
      const c = item.chain as Json;
      if (!out.chains.has(String(c.name))) out.chains.set(String(c.name), { rules: 0 });
    } else if (item.rule) {
      const r = item.rule as Json;
      const name = String(r.chain);
      const c = out.chains.get(name) ?? { rules: 0 };
      if (c.rules === 0 && typeof r.comment === 'string') c.fingerprint = r.comment;
      c.rules++;
      out.chains.set(name, c);
    } else if (item.map) {
      const m = item.map as Json;
      const els = new Map<string, string>();
      for (const e of (m.elem as [unknown, unknown][]) ?? []) els.set(keyText(e[0]), verdictOf(e[1]));
      out.maps.add(String(m.name));
      out.elements.set(String(m.name), els);
    } else if (item.set) {
      const s = item.set as Json;
      const timeout = typeof s.timeout === 'number' ? s.timeout : 0;
      out.sets.set(String(s.name), timeout);
      if (!timeout) out.members.set(String(s.name), new Set(((s.elem as unknown[]) ?? []).map(keyText)));
    }
  }
  return out;
}
