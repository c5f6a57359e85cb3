// What one small `nft -f -` transaction costs on a loaded skiff-proxy shard table, per kind of command:
// nft fills its cache from the kernel before it runs a transaction, and how much it dumps depends
// on the commands (for some, every chain and set of the table). Loads the bench's Services (as the
// proxy renders them) into a namespace `pfcost` and times each probe (median of 7 runs, wall time
// of `nsenter … nft -f -`, so the ~2 ms of starting nft are in every figure).
// Usage: node bench/proxy-nft-cost.ts [--sizes 10,10000] [--shards K] [--keep: leave the last size loaded | --cleanup]
import { execa } from 'execa';
import { rmSync } from 'node:fs';
import { renderRuleset } from '../agent/proxy/render.ts';
import { fullScript } from '../agent/proxy/nft-text.ts';
import { shardTable, TABLE } from '../agent/proxy/model.ts';
import {
  addBlackholes,
  addNetns,
  delNetns,
  removeBlackholes,
  STATE_ROOT,
  writeReservation,
} from '../agent/sandbox/host.ts';
import { facts, world } from './proxy-fixture.ts';
import { median } from './stats.ts';

const args = process.argv.slice(2);
const SIZES = (args.includes('--sizes') ? args[args.indexOf('--sizes') + 1] : '10,10000').split(',').map(Number);
const NS = 'pfcost';
const RANGES = ['10.244.0.0/16', '10.96.0.0/12'];
/**
 * --shards K: the Services spread over K shard tables as the proxy renders them (default 1: all in
 * `skiff-proxy-0`); the probes go to `skiff-proxy-0`, which holds a K-th of them.
 */
const SHARDS = args.includes('--shards') ? Number(args[args.indexOf('--shards') + 1]) : 1;
const T = `ip ${shardTable(0)}`;
/** The shared table (the filter checks' sets). */
const S = `ip ${TABLE}`;

/** [name, setup (untimed), probe (timed), undo (untimed)] */
const PROBES: [string, string, string, string][] = [
  ['add table (no-op)', '', `add table ${T}`, ''],
  ['add chain', '', `add chain ${T} pf-c`, `delete chain ${T} pf-c`],
  ['delete chain', `add chain ${T} pf-c`, `delete chain ${T} pf-c`, ''],
  ['flush chain', `add chain ${T} pf-c\nadd rule ${T} pf-c drop`, `flush chain ${T} pf-c`, `delete chain ${T} pf-c`],
  ['add rule', `add chain ${T} pf-c`, `add rule ${T} pf-c ip saddr 10.1.2.3 drop`, `delete chain ${T} pf-c`],
  [
    'add chain { rules } (block)',
    '',
    `add chain ${T} pf-c { ip saddr 10.1.2.3 jump mark-for-masquerade ; meta l4proto tcp dnat to 10.1.2.3:80 ; }`,
    `delete chain ${T} pf-c`,
  ],
  [
    'add chain { numgen vmap { anonymous } }',
    `add chain ${T} pf-d`,
    `add chain ${T} pf-c { numgen random mod 2 vmap { 0 : goto pf-d, 1 : goto pf-d } ; }`,
    `delete chain ${T} pf-c\ndelete chain ${T} pf-d`,
  ],
  [
    'add rule with a named set (shared table)',
    `add chain ${S} pf-c`,
    `add rule ${S} pf-c ip daddr @cluster-ips drop`,
    `delete chain ${S} pf-c`,
  ],
  [
    'add map { elements } (block)',
    '',
    `add map ${T} pf-m { typeof numgen random mod 2 : verdict ; elements = { 0 : drop } ; }`,
    `delete map ${T} pf-m`,
  ],
  ['delete map', `add map ${T} pf-m { typeof numgen random mod 2 : verdict ; }`, `delete map ${T} pf-m`, ''],
  [
    'add element (shared map)',
    '',
    `add element ${T} service-ips { 10.97.250.250 . tcp . 80 : drop }`,
    `delete element ${T} service-ips { 10.97.250.250 . tcp . 80 }`,
  ],
  [
    'delete element (shared map)',
    `add element ${T} service-ips { 10.97.250.250 . tcp . 80 : drop }`,
    `delete element ${T} service-ips { 10.97.250.250 . tcp . 80 }`,
    '',
  ],
  [
    'flush map',
    `add map ${T} pf-m { typeof numgen random mod 2 : verdict ; elements = { 0 : drop } ; }`,
    `flush map ${T} pf-m`,
    `delete map ${T} pf-m`,
  ],
];

const nft = async (script: string) => {
  const r = await execa('nsenter', [`--net=/run/netns/${NS}`, 'nft', '-f', '-'], {
    input: `${script}\n`,
    reject: false,
    timeout: 600_000,
    maxBuffer: 1 << 28,
  });
  if (r.exitCode !== 0) throw new Error(`${script.split('\n')[0]}: ${String(r.stderr).trim().split('\n')[0]}`);
};

async function main() {
  const id = NS;
  if (args.includes('--cleanup')) return cleanup(id);
  writeReservation(id, RANGES, [NS]);
  await addBlackholes(RANGES);
  try {
    await addNetns(NS);
    const rows: Record<string, number[]> = {};
    for (const n of SIZES) {
      await nft('flush ruleset'); // in our own namespace
      const t0 = performance.now();
      const w = world(n, -1);
      const tables = renderRuleset({ services: w.services.values(), slices: w.endpointSlices.values() }, facts, SHARDS);
      // A table per transaction (each is validated whole when its transaction commits).
      for (const [t, f] of tables) await nft(fullScript(new Map([[t, f]])));
      console.error(
        `# ${n} Services in ${SHARDS} table(s) loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
      for (const [name, setup, probe, undo] of args.includes('--load-only') ? [] : PROBES) {
        const ts: number[] = [];
        for (let i = 0; i < 7; i++) {
          if (setup) await nft(setup);
          const t = performance.now();
          await nft(probe);
          ts.push(performance.now() - t);
          if (undo) await nft(undo);
        }
        (rows[name] ??= []).push(median(ts));
      }
    }
    console.log(`| command | ${SIZES.map((n) => `${n} Services`).join(' | ')} |`);
    console.log(`| --- | ${SIZES.map(() => '---:').join(' | ')} |`);
    for (const [name, ms] of Object.entries(rows))
      console.log(`| ${name} | ${ms.map((m) => `${m.toFixed(1)} ms`).join(' | ')} |`);
  } finally {
    if (args.includes('--keep')) console.error(`# ${NS} kept loaded; remove with --cleanup`);
    else await cleanup(id);
  }
}

async function cleanup(id: string) {
  await delNetns(NS).catch(() => {});
  rmSync(`${STATE_ROOT}/${id}.json`, { force: true });
  await removeBlackholes(RANGES, id);
}

await main();
