// The ruleset data (model.ts) as `nft -f` text. Every chain has a fingerprint (a hash of its
// rules), kept as an element of the `fingerprints` set (and, for people reading `nft list`, as a
// comment on its first rule): reading that one set back tells the applier which chains are
// already right without dumping their rules, which the kernel does in time quadratic in their
// number. An endpoint map's name ends in a hash of its elements, so its name says what it holds.
import { createHash } from 'node:crypto';
import {
  MASQ_MARK,
  SHARD_MARK_MASK,
  shardMark,
  type Action,
  type Chain,
  type Fragment,
  type MapDecl,
  type Match,
  type Rule,
  type SetDecl,
  type TableSpec,
  type Tables,
  type MapValue,
} from './model.ts';
import { specOf } from './render.ts';

/** `ip NAME`: every function below writes into the table named. */
const T = (table: string) => `ip ${table}`;
const hex = (n: number) => `0x${n.toString(16)}`;

function matchText(m: Match): string {
  switch (m.m) {
    case 'ctNew':
      return 'ct state new';
    case 'ctDnat':
      return 'ct status dnat';
    case 'ctNotDnat':
      return 'ct status & dnat == 0';
    case 'addr':
      return `ip ${m.field} ${m.neg ? '!= ' : ''}${m.cidr}`;
    case 'addrList':
      return `ip ${m.field} ${m.neg ? '!= ' : ''}{ ${m.cidrs.join(', ')} }`;
    case 'inSet':
      return `ip ${m.field} @${m.set}`;
    case 'pairIn':
      return `ip saddr . ip daddr @${m.set}`;
    case 'fibLocal':
      return `fib ${m.field} type local`;
    case 'portIn':
      return `meta l4proto . th dport @${m.map}`;
    case 'masqUnmarked':
      return `meta mark & ${hex(MASQ_MARK)} == 0`;
    case 'notForShard':
      return `meta mark & ${hex(SHARD_MARK_MASK)} != ${hex(shardMark(m.shard))}`;
    case 'l4proto':
      return `meta l4proto ${m.proto}`;
  }
}

function actionText(a: Action): string {
  switch (a.a) {
    case 'accept':
    case 'drop':
    case 'reject':
    case 'return':
      return a.a;
    case 'jump':
    case 'goto':
      return `${a.a} ${a.chain}`;
    case 'vmap':
      return `${a.key === 'dst' ? 'ip daddr . ' : ''}meta l4proto . th dport vmap @${a.map}`;
    case 'numgen':
      return `numgen random mod ${a.n} vmap @${a.map}`;
    case 'dnatMap':
      return `dnat ip to numgen random mod ${a.n} map @${a.map}`;
    case 'markMasq':
      return `meta mark set meta mark | ${hex(MASQ_MARK)}`;
    case 'unmarkMasq':
      return `meta mark set meta mark ^ ${hex(MASQ_MARK)}`;
    case 'markShard':
      return `meta mark set meta mark & ${hex(~SHARD_MARK_MASK >>> 0)} | ${hex(shardMark(a.shard))}`;
    case 'unmarkShard':
      return `meta mark set meta mark & ${hex(~SHARD_MARK_MASK >>> 0)}`;
    case 'masquerade':
      return 'masquerade fully-random';
    case 'dnat':
      return `dnat to ${a.ip}:${a.port}`;
    case 'update':
      return `update @${a.set} { ip saddr }`;
  }
}

export function ruleText(rule: Rule): string {
  return [...rule.match.map(matchText), actionText(rule.action)].join(' ');
}

/** Holds one `NAME-HASH . FINGERPRINT` element (each 64 bits as two IPv4 addresses) per chain. */
export const PRINTS_SET = 'fingerprints';
/** 16 hex digits as two dotted quads. */
export const quads = (hex16: string) =>
  [0, 8].map((o) => [0, 2, 4, 6].map((i) => Number.parseInt(hex16.slice(o + i, o + i + 2), 16)).join('.')).join(' . ');
const hash16 = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);
/** The key half of an object's fingerprint element. */
export const printKey = (name: string) => quads(hash16(name));
/** An object's fingerprint element (`fp`: 16 hex digits). */
export const printElement = (name: string, fp: string) => `${printKey(name)} . ${quads(fp)}`;
/** Two dotted quads back into 16 hex digits. */
export const printHex = (q: string[]) =>
  q.flatMap((a) => a.split('.').map((b) => Number(b).toString(16).padStart(2, '0'))).join('');
/** Rendered chains are never changed afterwards: their text and hash are worked out once. */
const texts = new WeakMap<Chain, { fp: string; rules: string[] }>();
function chainText(c: Chain): { fp: string; rules: string[] } {
  let t = texts.get(c);
  if (!t) {
    const rules = c.rules.map(ruleText);
    const h = createHash('sha256');
    if (c.hook) h.update(`${c.hook.type} ${c.hook.hook} ${c.hook.priority}\n`);
    for (const rule of rules) h.update(`${rule}\n`);
    texts.set(c, (t = { fp: h.digest('hex').slice(0, 16), rules }));
  }
  return t;
}

/** A short hash of what a chain holds (hook and rules). */
export const chainFingerprint = (c: Chain): string => chainText(c).fp;

const hookSpec = (c: Chain) =>
  c.hook ? `type ${c.hook.type} hook ${c.hook.hook} priority ${c.hook.priority} ; policy accept ; ` : '';

/** Declares a chain, without rules: every chain exists before any rule or map element jumps to it. */
export function chainDecl(t: string, c: Chain): string {
  return c.hook ? `add chain ${T(t)} ${c.name} { ${hookSpec(c)}}` : `add chain ${T(t)} ${c.name}`;
}

/**
 * The rules of a chain (which must be empty) as one `add chain NAME { RULE ; … }`: nft 1.0.6 fills
 * its cache from the kernel before an `add rule` with every chain and set of the table, which
 * grows with the number of Services, and before an `add chain` with the tables only. Sets the
 * rules name must be declared earlier in the same transaction (see setRefs).
 */
export function chainBlock(t: string, c: Chain): string {
  const { fp, rules } = chainText(c);
  const body = rules.map((rule, i) => `${rule}${i === 0 ? ` comment "${fp}"` : ''} ; `).join('');
  return `add chain ${T(t)} ${c.name} { ${hookSpec(c)}${body}}`;
}

/** The named sets and maps a chain's rules look up or update. */
export function setRefs(c: Chain): string[] {
  const out: string[] = [];
  for (const r of c.rules) {
    for (const m of r.match) if (m.m === 'inSet' || m.m === 'pairIn') out.push(m.set);
    const a = r.action;
    if (a.a === 'vmap' || a.a === 'numgen' || a.a === 'dnatMap') out.push(a.map);
    if (a.a === 'update') out.push(a.set);
  }
  return out;
}

const keyType = (k: MapDecl['key']) =>
  k === 'dst'
    ? 'type ipv4_addr . inet_proto . inet_service'
    : k === 'port'
      ? 'type inet_proto . inet_service'
      : 'typeof numgen random mod 2'; // the key is numgen's integer, whatever the modulus

// An endpoint data map's value: an address and a port (`th dport` types the port for any protocol).
const valueType = (m: MapDecl) => (m.value === 'endpoint' ? 'ip daddr . th dport' : 'verdict');

/** A map's declaration, with its elements (`KEY : VALUE` texts) when given: like `add chain`, it costs no cache. */
export function mapDecl(t: string, m: MapDecl, elements: string[] = []): string {
  const els = elements.length ? ` elements = { ${elements.join(', ')} } ;` : '';
  return `add map ${T(t)} ${m.name} { ${keyType(m.key)} : ${valueType(m)} ;${els} }`;
}

export function setDecl(t: string, s: SetDecl): string {
  if (s.pairs) return `add set ${T(t)} ${s.name} { type ipv4_addr . ipv4_addr ; }`;
  if (!s.timeout) return `add set ${T(t)} ${s.name} { type ipv4_addr ; }`;
  return `add set ${T(t)} ${s.name} { type ipv4_addr ; flags dynamic,timeout ; timeout ${s.timeout}s ; }`;
}

/** A map element's value as nft writes it (an endpoint as `IP . PORT`). */
export const valueText = (v: MapValue) =>
  v.v === 'drop' ? 'drop' : v.v === 'to' ? `${v.ip} . ${v.port}` : `goto ${v.chain}`;

const CHUNK = 2000;
/** `add|delete element` lines, a few thousand elements per line. */
export function elementLines(t: string, op: 'add' | 'delete', name: string, items: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < items.length; i += CHUNK)
    out.push(`${op} element ${T(t)} ${name} { ${items.slice(i, i + CHUNK).join(', ')} }`);
  return out;
}

const PRINTS_TYPE = 'type ipv4_addr . ipv4_addr . ipv4_addr . ipv4_addr ;';

/** Fingerprint elements added through the set's declaration (an `add element` would cost nft's full cache). */
export function printLines(t: string, items: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < items.length; i += CHUNK)
    out.push(
      `add set ${T(t)} ${PRINTS_SET} { ${PRINTS_TYPE} elements = { ${items.slice(i, i + CHUNK).join(', ')} } ; }`,
    );
  return out;
}

/** A table, its fixed maps and static sets: always declared (idempotent `add`). */
export function skeletonLines(spec: TableSpec): string[] {
  const t = spec.name;
  return [
    `add table ${T(t)}`,
    ...spec.maps.map((m) => mapDecl(t, m)),
    ...spec.sets.map((s) => setDecl(t, s)),
    `add set ${T(t)} ${PRINTS_SET} { ${PRINTS_TYPE} }`,
  ];
}

const elementTexts = (f: Fragment, map: string) =>
  [...(f.elements.get(map) ?? [])].map(([k, v]) => `${k} : ${valueText(v)}`);

/** One table's fragment as a script onto an empty (or absent) table. */
export function tableScript(t: string, f: Fragment): string[] {
  const lines = skeletonLines(specOf(t));
  for (const s of f.sets) lines.push(setDecl(t, s));
  for (const c of f.chains) lines.push(chainDecl(t, c));
  for (const m of f.maps) lines.push(mapDecl(t, m, elementTexts(f, m.name)));
  for (const c of f.chains) lines.push(chainBlock(t, c));
  const own = new Set(f.maps.map((m) => m.name));
  for (const map of f.elements.keys())
    if (!own.has(map)) lines.push(...elementLines(t, 'add', map, elementTexts(f, map)));
  for (const [set, vals] of f.members) lines.push(...elementLines(t, 'add', set, [...vals]));
  lines.push(
    ...printLines(
      t,
      f.chains.map((c) => printElement(c.name, chainFingerprint(c))),
    ),
  );
  return lines;
}

/** Every table as one script onto empty (or absent) tables. */
export function fullScript(tables: Tables): string {
  return `${[...tables].flatMap(([t, f]) => tableScript(t, f)).join('\n')}\n`;
}
