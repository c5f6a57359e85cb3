// What one endpoint change costs as the number of chains grows, for two ways to lay out a
// Service's endpoints. Every nf_tables commit walks every chain of every table in the namespace
// (the kernel's "make rules_gen_X visible" step), so a commit's cost grows with the chains loaded,
// whatever the commit changes. This bench sets the layout Skiff uses against one with fewer chains:
//   chains: a chain per endpoint (hairpin mark, dnat), reached through a numgen verdict map: the
//           structure of kube-proxy's nftables mode and of Skiff (6 chains per Service with 5
//           endpoints);
//   map:    no endpoint chains: the Service chain DNATs through a numgen data map to `ip . port`
//           (1 chain per Service; hairpin would move to a set in postrouting).
// Each layout is loaded with N Services (5 endpoints each) spread over 16 tables, then one
// endpoint of one Service is replaced, as Skiff's applier does it (a new map named by what it
// holds, the Service chain rewritten; for `chains` also the new endpoint's chain), one transaction
// per change through one long-lived `nft -i` (Skiff's NftSession). Old objects are deleted after
// each timed change, untimed. Median and max of 21 changes. Beside it, the median of 21 commits
// that only declare a new empty set (no chain touched, nothing validated, and nft fetches no more
// than the list of tables for it): what that costs at a size is what any commit costs there.
// Usage: node bench/proxy-chain-count.ts [--sizes 10,1000,10000]
import { rmSync } from 'node:fs';
import { execa } from 'execa';
import { NftSession } from '../agent/proxy/nft-session.ts';
import {
  addBlackholes,
  addNetns,
  delNetns,
  removeBlackholes,
  STATE_ROOT,
  writeReservation,
} from '../agent/sandbox/host.ts';
import { median } from './stats.ts';

const args = process.argv.slice(2);
const SIZES = (args.includes('--sizes') ? args[args.indexOf('--sizes') + 1] : '10,1000,10000').split(',').map(Number);
const NS = 'pfchains';
const RANGES = ['10.244.0.0/16', '10.96.0.0/12'];
const TABLES = 16;
const EPS = 5;
const CHANGES = 21;

type Layout = 'chains' | 'map';

const table = (svc: number) => `pfc-${svc % TABLES}`;
/** Distinct within a Service; the IPs only name chains and elements (no traffic is sent). */
const epIP = (svc: number, k: number) => `10.244.${(svc >> 8) & 0xff}.${((k * 37 + svc) % 250) + 2}`;

/** One Service's objects (its endpoints `ips`), as lines inside `table ip <t> { … }`. */
function serviceBlock(layout: Layout, svc: number, ips: string[], tag: string): string[] {
  const mod = `numgen random mod ${ips.length}`;
  if (layout === 'map') {
    const els = ips.map((ip, i) => `${i} : ${ip} . 8080`).join(', ');
    return [
      `map e-${svc}-${tag} { typeof ${mod} : ip daddr . tcp dport; elements = { ${els} }; }`,
      `chain s-${svc} { meta l4proto tcp dnat ip to ${mod} map @e-${svc}-${tag}; }`,
    ];
  }
  const eps = ips.map((ip) => `ep-${svc}-${ip}`);
  const els = eps.map((c, i) => `${i} : goto ${c}`).join(', ');
  return [
    ...ips.map((ip, i) => `chain ${eps[i]} { ip saddr ${ip} jump mark-masq; meta l4proto tcp dnat to ${ip}:8080; }`),
    `map v-${svc}-${tag} { typeof ${mod} : verdict; elements = { ${els} }; }`,
    `chain s-${svc} { ${mod} vmap @v-${svc}-${tag}; }`,
  ];
}

function fullLoad(layout: Layout, n: number): Map<string, string> {
  const byTable = new Map<string, string[]>();
  for (let t = 0; t < TABLES; t++)
    byTable.set(`pfc-${t}`, [
      'chain mark-masq { meta mark set meta mark | 0x4000; }',
      'map svc { type ipv4_addr . inet_proto . inet_service : verdict; }',
      'chain pre { type nat hook prerouting priority -100; ip daddr . meta l4proto . th dport vmap @svc; }',
    ]);
  for (let s = 0; s < n; s++) {
    const ips = Array.from({ length: EPS }, (_, k) => epIP(s, k));
    byTable.get(table(s))?.push(...serviceBlock(layout, s, ips, 'a'));
  }
  const out = new Map<string, string>();
  for (const [t, lines] of byTable) out.set(t, `table ip ${t} {\n${lines.join('\n')}\n}\n`);
  return out;
}

const nftFile = async (script: string) => {
  const r = await execa('nsenter', [`--net=/run/netns/${NS}`, 'nft', '-f', '-'], {
    input: script,
    reject: false,
    timeout: 600_000,
    maxBuffer: 1 << 28,
  });
  if (r.exitCode !== 0) throw new Error(String(r.stderr).trim().split('\n')[0]);
};

/** The timed change: Service `svc`'s last endpoint replaced by `ip` (tag names the new map). */
function change(layout: Layout, svc: number, ips: string[], tag: string): string {
  const T = `ip ${table(svc)}`;
  const lines = serviceBlock(layout, svc, ips, tag).map((b) => {
    // `chain X { … }` on an existing Service chain adds rules: flush it first.
    const m = /^(chain|map) (\S+) (\{.*\})$/.exec(b);
    if (!m) throw new Error(b);
    return `add ${m[1]} ${T} ${m[2]} ${m[3]}`;
  });
  const svcChain = lines.pop() as string;
  // Only the new endpoint's chain is added (the others exist already).
  const keep = layout === 'chains' ? lines.filter((l, i) => i === EPS - 1 || l.startsWith('add map')) : lines;
  return [...keep, `flush chain ${T} s-${svc}`, svcChain].join('; ');
}

function cleanupOld(layout: Layout, svc: number, oldIP: string, oldTag: string): string {
  const T = `ip ${table(svc)}`;
  if (layout === 'map') return `delete map ${T} e-${svc}-${oldTag}\n`;
  return `delete map ${T} v-${svc}-${oldTag}\ndelete chain ${T} ep-${svc}-${oldIP}\n`;
}

async function main() {
  if (args.includes('--cleanup')) return cleanup();
  writeReservation(NS, RANGES, [NS]);
  await addBlackholes(RANGES);
  const rows: string[] = [];
  try {
    await addNetns(NS);
    for (const layout of ['chains', 'map'] as const)
      for (const n of SIZES) {
        await nftFile('flush ruleset\n');
        for (const script of fullLoad(layout, n).values()) await nftFile(script);
        const svc = n - 1;
        let ips = Array.from({ length: EPS }, (_, k) => epIP(svc, k));
        let tag = 'a';
        const session = new NftSession(['nsenter', `--net=/run/netns/${NS}`, 'nft']);
        const ts: number[] = [];
        const elems: number[] = [];
        try {
          for (let i = 0; i < CHANGES + 1; i++) {
            const next = [...ips.slice(0, EPS - 1), `10.244.255.${i + 1}`];
            const nextTag = `c${i}`;
            const t0 = performance.now();
            const err = await session.run(change(layout, svc, next, nextTag));
            const ms = performance.now() - t0;
            if (err.includes('Error')) throw new Error(`${layout} ${n}: ${err.trim().split('\n')[0]}`);
            if (i > 0) ts.push(ms); // the first warms the session (nft's start and first cache fill)
            await nftFile(cleanupOld(layout, svc, ips[EPS - 1], tag));
            ips = next;
            tag = nextTag;
          }
          for (let i = 0; i < CHANGES + 1; i++) {
            const t0 = performance.now();
            const err = await session.run(`add set ip ${table(svc)} probe-${i} { type ipv4_addr; }`);
            const ms = performance.now() - t0;
            if (err.includes('Error')) throw new Error(`${layout} ${n}: ${err.trim().split('\n')[0]}`);
            if (i > 0) elems.push(ms);
          }
        } finally {
          session.close();
        }
        const chains = layout === 'map' ? n : n * (EPS + 1);
        const cells = [layout, n, chains + TABLES * 2, median(ts), Math.max(...ts), median(elems)].map((c) =>
          typeof c === 'number' && !Number.isInteger(c) ? c.toFixed(1) : String(c),
        );
        const row = `| ${cells.join(' | ')} |`;
        console.error(row);
        rows.push(row);
      }
  } finally {
    await cleanup();
  }
  console.log('| layout | Services | chains | one change, median ms | max ms | a new empty set, median ms |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) console.log(r);
}

async function cleanup() {
  await delNetns(NS).catch(() => {});
  rmSync(`${STATE_ROOT}/${NS}.json`, { force: true });
  await removeBlackholes(RANGES, NS);
}

await main();
