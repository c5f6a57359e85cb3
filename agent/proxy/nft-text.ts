// The ruleset data (model.ts) as `nft -f` text. Every chain and endpoint map has a fingerprint (a
// hash of its rules or elements), kept as an element of the `fingerprints` set (and, for people
// reading `nft list`, as a comment on a chain's first rule): reading that one set back tells the
// applier which chains and maps are already right without dumping their rules or elements,
// which the kernel does in time quadratic in the number of them.
import { createHash } from 'node:crypto';
import {
  MASQ_MARK,
  TABLE,
  type Action,
  type Chain,
  type Fragment,
  type MapDecl,
  type Match,
  type Rule,
  type SetDecl,
  type Verdict,
} from './model.ts';
import { CLUSTER_IPS_SET, MAPS } from './render.ts';

const T = `ip ${TABLE}`;
const hex = (n: number) => `0x${n.toString(16)}`;

function matchText(m: Match): string {
  switch (m.m) {
    case 'ctNew':
      return 'ct state new';
    case 'addr':
      return `ip ${m.field} ${m.neg ? '!= ' : ''}${m.cidr}`;
    case 'addrList':
      return `ip ${m.field} ${m.neg ? '!= ' : ''}{ ${m.cidrs.join(', ')} }`;
    case 'inSet':
      return `ip ${m.field} @${m.set}`;
    case 'fibLocal':
      return `fib ${m.field} type local`;
    case 'masqUnmarked':
      return `meta mark & ${hex(MASQ_MARK)} == 0`;
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
    case 'markMasq':
      return `meta mark set meta mark | ${hex(MASQ_MARK)}`;
    case 'unmarkMasq':
      return `meta mark set meta mark ^ ${hex(MASQ_MARK)}`;
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

/** Holds one `NAME-HASH . FINGERPRINT` element (each 64 bits as two IPv4 addresses) per chain and endpoint map. */
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
/** The fingerprint of a map's elements (key text → verdict text). */
export const mapPrint = (els: Map<string, string>) =>
  hash16(
    [...els]
      .map(([k, v]) => `${k} : ${v}`)
      .sort()
      .join('\n'),
  );

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

export function chainDecl(c: Chain): string {
  if (!c.hook) return `add chain ${T} ${c.name}`;
  const { type, hook, priority } = c.hook;
  return `add chain ${T} ${c.name} { type ${type} hook ${hook} priority ${priority} ; policy accept ; }`;
}

/** The rules of a chain (the chain must exist and be empty). */
export function chainRules(c: Chain): string[] {
  const { fp, rules } = chainText(c);
  return rules.map((rule, i) => `add rule ${T} ${c.name} ${rule}${i === 0 ? ` comment "${fp}"` : ''}`);
}

const keyType = (k: MapDecl['key']) =>
  k === 'dst'
    ? 'type ipv4_addr . inet_proto . inet_service'
    : k === 'port'
      ? 'type inet_proto . inet_service'
      : 'typeof numgen random mod 2'; // the key is numgen's integer, whatever the modulus

export function mapDecl(m: MapDecl): string {
  return `add map ${T} ${m.name} { ${keyType(m.key)} : verdict ; }`;
}

export function setDecl(s: SetDecl): string {
  if (!s.timeout) return `add set ${T} ${s.name} { type ipv4_addr ; }`;
  return `add set ${T} ${s.name} { type ipv4_addr ; flags dynamic,timeout ; timeout ${s.timeout}s ; }`;
}

export const verdictText = (v: Verdict) => (v.v === 'drop' ? 'drop' : `goto ${v.chain}`);

const CHUNK = 2000;
/** `add|delete element` lines, a few thousand elements per line. */
export function elementLines(op: 'add' | 'delete', name: string, items: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < items.length; i += CHUNK)
    out.push(`${op} element ${T} ${name} { ${items.slice(i, i + CHUNK).join(', ')} }`);
  return out;
}

/** Table, maps and static sets: always declared (idempotent `add`). */
export function skeletonLines(): string[] {
  return [
    `add table ${T}`,
    ...MAPS.map(mapDecl),
    setDecl({ name: CLUSTER_IPS_SET }),
    `add set ${T} ${PRINTS_SET} { type ipv4_addr . ipv4_addr . ipv4_addr . ipv4_addr ; }`,
  ];
}

/** The whole fragment as one script onto an empty (or absent) table. */
export function fullScript(f: Fragment): string {
  const lines = skeletonLines();
  for (const s of f.sets) lines.push(setDecl(s));
  for (const m of f.maps) lines.push(mapDecl(m));
  for (const c of f.chains) lines.push(chainDecl(c));
  for (const c of f.chains) lines.push(...chainRules(c));
  for (const [map, els] of f.elements)
    lines.push(
      ...elementLines(
        'add',
        map,
        [...els].map(([k, v]) => `${k} : ${verdictText(v)}`),
      ),
    );
  for (const [set, vals] of f.members) lines.push(...elementLines('add', set, [...vals]));
  const prints = f.chains.map((c) => printElement(c.name, chainFingerprint(c)));
  for (const m of f.maps) {
    const els = new Map([...(f.elements.get(m.name) ?? [])].map(([k, v]) => [k, verdictText(v)]));
    prints.push(printElement(m.name, mapPrint(els)));
  }
  lines.push(...elementLines('add', PRINTS_SET, prints));
  return `${lines.join('\n')}\n`;
}
