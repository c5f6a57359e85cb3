// The service proxy's ruleset as plain data: chains of rules in a small vocabulary (the few
// matches and statements the design uses), verdict maps and sets with their elements. The
// renderer produces it, nft-text.ts prints it, the applier diffs it, and the unit tests walk
// it with a packet tracer, so all of them agree on one meaning of every rule.

/**
 * The shared table: filter-hook checks, masquerading, and the maps those use. Its content changes
 * only when a Service is added or removed, goes to or from no endpoints, or changes its IPs.
 */
export const TABLE = 'skiff-proxy';
/** Service shards: `skiff-proxy-0` … (docs/proxy.md, "Tables"). */
export const SHARD_PREFIX = `${TABLE}-`;
export const shardTable = (i: number) => `${SHARD_PREFIX}${i}`;
/** The shard index of a shard table's name, or undefined for any other name. */
export function shardIndex(table: string): number | undefined {
  const m = /^skiff-proxy-(\d+)$/.exec(table);
  return m ? Number(m[1]) : undefined;
}
/**
 * Shard tables by default. More shards make a change at 10,000 Services cheaper (the kernel
 * validates a touched table whole) and each new connection pass more nat base chains; with
 * partial syncs through one long-lived nft, 16 costs small clusters nothing measurable
 * (docs/proxy.md, "Choosing K").
 */
export const DEFAULT_SHARDS = 16;

/** Which shard a Service (`namespace/name`) lives in: FNV-1a of the key, mod the number of shards. Stable. */
export function shardOf(key: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % shards;
}
/** The packet-mark bit that asks nat-postrouting to masquerade (kube-proxy uses the same bit). */
export const MASQ_MARK = 0x4000;
/**
 * The packet-mark bits that carry a new connection's shard from the shared table's dispatch to
 * the shard's nat chain: shard I is I + 1 there (0: no Service's), so up to 255 shards. The top
 * byte: kube-proxy's bits (0x4000, 0x8000), Tailscale's (0xff0000) and WireGuard's usual
 * fwmarks are all below it; only a CNI that brings its own proxy (Calico, Cilium) uses it.
 */
export const SHARD_MARK_MASK = 0xff000000;
export const MAX_SHARDS = 255;
export const shardMark = (i: number) => (i + 1) * 0x1000000;

export type Proto = 'tcp' | 'udp' | 'sctp';

export type Match =
  | { m: 'ctNew' }
  /** `ct status dnat`: the connection was DNATed (by a Service here) */
  | { m: 'ctDnat' }
  /** `ct status & dnat == 0`: no NAT rule translated the connection's destination */
  | { m: 'ctNotDnat' }
  /** `ip daddr|saddr [!=] ADDR[/LEN]` */
  | { m: 'addr'; field: 'saddr' | 'daddr'; neg?: boolean; cidr: string }
  /** `ip saddr != { CIDR, ... }` */
  | { m: 'addrList'; field: 'saddr'; neg: boolean; cidrs: string[] }
  /** `ip saddr|daddr @SET` */
  | { m: 'inSet'; field: 'saddr' | 'daddr'; set: string }
  /** `ip saddr . ip daddr @SET` (a set of address pairs) */
  | { m: 'pairIn'; set: string }
  /** `fib daddr|saddr type local` */
  | { m: 'fibLocal'; field: 'saddr' | 'daddr' }
  /** `meta l4proto . th dport @MAP`: the port is a key of the map (a hash lookup, before the costlier fib) */
  | { m: 'portIn'; map: string }
  /** `meta mark & MASQ_MARK == 0` */
  | { m: 'masqUnmarked' }
  /** `meta mark & SHARD_MARK_MASK != shardMark(shard)`: the dispatch sent the packet elsewhere, or nowhere */
  | { m: 'notForShard'; shard: number }
  /** `meta l4proto PROTO` */
  | { m: 'l4proto'; proto: Proto };

export type Action =
  | { a: 'accept' | 'drop' | 'reject' | 'return' }
  | { a: 'jump' | 'goto'; chain: string }
  /** `ip daddr . meta l4proto . th dport vmap @MAP` (key 'dst') or `meta l4proto . th dport vmap @MAP` ('port') */
  | { a: 'vmap'; key: 'dst' | 'port'; map: string }
  /** `numgen random mod N vmap @MAP` (MAP: the service port's endpoint map, `0 : goto C0, ...`) */
  | { a: 'numgen'; n: number; map: string }
  /**
   * `dnat ip to numgen random mod N map @MAP` (MAP: the service port's endpoint map,
   * `0 : IP . PORT, ...`; the rule also matches the transport protocol, which nft requires)
   */
  | { a: 'dnatMap'; n: number; map: string }
  /** `meta mark set meta mark | MASQ_MARK` */
  | { a: 'markMasq' }
  /** `meta mark set meta mark ^ MASQ_MARK` (only reached with the bit set, so it clears it) */
  | { a: 'unmarkMasq' }
  /** `meta mark set meta mark & ~SHARD_MARK_MASK | shardMark(shard)` */
  | { a: 'markShard'; shard: number }
  /** `meta mark set meta mark & ~SHARD_MARK_MASK`: the shard took its packet, the bits go back to 0 */
  | { a: 'unmarkShard' }
  | { a: 'masquerade' }
  /** `dnat to IP:PORT` (the rule also matches the transport protocol, which nft requires) */
  | { a: 'dnat'; ip: string; port: number }
  /** `update @SET { ip saddr }` */
  | { a: 'update'; set: string };

export interface Rule {
  match: Match[];
  action: Action;
}

export type HookName = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';

export interface Hook {
  type: 'filter' | 'nat';
  hook: HookName;
  priority: number;
}

export interface Chain {
  name: string;
  hook?: Hook;
  rules: Rule[];
}

/** A map's verdict: jump targets are always `goto` (a service chain never returns). */
export type Verdict = { v: 'goto'; chain: string } | { v: 'drop' };
/** An endpoint map's value: where `dnatMap` sends the connection. */
export type Endpoint = { v: 'to'; ip: string; port: number };
/** What a map element holds: a verdict, or (in an endpoint data map) an endpoint. */
export type MapValue = Verdict | Endpoint;

/** `dst`: address . protocol . port; `port`: protocol . port; `numgen`: an endpoint's index. */
export type MapKey = 'dst' | 'port' | 'numgen';

export interface MapDecl {
  name: string;
  key: MapKey;
  /** `endpoint`: a data map of `IP . PORT` (for `dnatMap`); a verdict map otherwise. */
  value?: 'endpoint';
}

export interface SetDecl {
  name: string;
  /** Seconds: a dynamic set whose elements the packet path adds (session affinity). */
  timeout?: number;
  /** A set of `ipv4_addr . ipv4_addr` pairs (for `pairIn`) rather than of addresses. */
  pairs?: boolean;
}

/** What one Service contributes, or the fixed skeleton: merged, they are the whole table. */
export interface Fragment {
  chains: Chain[];
  /** Maps of its own (the endpoint maps of its service ports; the shared ones are in the skeleton). */
  maps: MapDecl[];
  sets: SetDecl[];
  /** Map elements: map name → canonical key text (`10.96.0.20 . tcp . 80`) → verdict or endpoint. */
  elements: Map<string, Map<string, MapValue>>;
  /** Static set elements: set name → members. */
  members: Map<string, Set<string>>;
}

export function emptyFragment(): Fragment {
  return { chains: [], maps: [], sets: [], elements: new Map(), members: new Map() };
}

export function addElement(f: Fragment, map: string, key: string, value: MapValue): void {
  let m = f.elements.get(map);
  if (!m) f.elements.set(map, (m = new Map()));
  m.set(key, value);
}

export function addMember(f: Fragment, set: string, value: string): void {
  let s = f.members.get(set);
  if (!s) f.members.set(set, (s = new Set()));
  s.add(value);
}

/** Several fragments as one (the first to claim a map key keeps it). */
export function mergeFragments(parts: Iterable<Fragment>): Fragment {
  const out = emptyFragment();
  for (const p of parts) {
    out.chains.push(...p.chains);
    out.maps.push(...p.maps);
    out.sets.push(...p.sets);
    for (const [map, els] of p.elements)
      for (const [k, v] of els) if (!out.elements.get(map)?.has(k)) addElement(out, map, k, v);
    for (const [set, vals] of p.members) for (const v of vals) addMember(out, set, v);
  }
  return out;
}

/** Several tables: table name → its content. */
export type Tables = Map<string, Fragment>;

/**
 * A table's fixed maps and static sets: always declared, changed element by element (every table
 * also has the `fingerprints` set, see nft-text.ts).
 */
export interface TableSpec {
  name: string;
  maps: MapDecl[];
  sets: SetDecl[];
}

export const dstKey = (ip: string, proto: Proto, port: number) => `${ip} . ${proto} . ${port}`;
export const portKey = (proto: Proto, port: number) => `${proto} . ${port}`;
