// Service proxy benchmark, in network namespaces made for it (a "node" holding the table and a
// "pod" with a TCP server behind a veth): full sync time at 10, 1,000 and 10,000 Services with 5
// endpoints each (and how much of it nft's transaction took), the full sync of a restarted agent
// on the loaded table (and its read-back), the time from one endpoint change reaching the applier
// to its transaction applied at each size, and the cleanup transaction a second later,
// the process's RSS at the largest; then new connections per second and connect latency through a ClusterIP with 10 and
// with 10,000 Services loaded, against the same Services as a kube-proxy iptables-mode ruleset
// (linear KUBE-SERVICES list, per-service chains with statistic probabilities, loaded with
// iptables-restore in its own namespace), and against connecting to the pod IP directly.
// Usage: node bench/proxy.ts [--sizes 10,1000,10000] [--seconds 3] [--shards K] [--syncs-only]
import { execa } from 'execa';
import { ProxyApplier, type SyncResult } from '../agent/proxy/applier.ts';
import { nftCommand, type Nft } from '../agent/proxy/nft.ts';
import { DEFAULT_SHARDS, shardTable, TABLE } from '../agent/proxy/model.ts';
import { netnsSet } from '../test/helpers/netns.ts';
import { endpointsOf, facts, POD, slice, svcIP, world } from './proxy-fixture.ts';

const args = process.argv.slice(2);
const opt = (name: string, d: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : d);
const SIZES = opt('--sizes', '10,1000,10000').split(',').map(Number);
const SECONDS = Number(opt('--seconds', '3'));
const SHARDS = Number(opt('--shards', String(DEFAULT_SHARDS)));
/** Deletes the proxy's tables (the shared one and every shard), whether there or not. */
const dropTables = [TABLE, ...Array.from({ length: SHARDS }, (_, i) => shardTable(i))]
  .map((t) => `add table ip ${t}\ndelete table ip ${t}\n`)
  .join('');

/** The same Services as kube-proxy's iptables mode writes them (nat table only). */
function iptablesRules(n: number, real: number): string {
  const l = ['*nat', ':KUBE-SERVICES - [0:0]', ':KUBE-MARK-MASQ - [0:0]', ':KUBE-POSTROUTING - [0:0]'];
  const body: string[] = [];
  for (let i = 0; i < n; i++) {
    const svc = `KUBE-SVC-${String(i).padStart(12, '0')}`;
    l.push(`:${svc} - [0:0]`);
    body.push(`-A KUBE-SERVICES -d ${svcIP(i)}/32 -p tcp -m tcp --dport 80 -j ${svc}`);
    const eps = endpointsOf(i, real);
    eps.forEach((ip, j) => {
      const sep = `KUBE-SEP-${String(i).padStart(8, '0')}${String(j).padStart(4, '0')}`;
      l.push(`:${sep} - [0:0]`);
      const left = eps.length - j;
      const prob = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(11)}` : '';
      body.push(`-A ${svc}${prob} -j ${sep}`);
      body.push(`-A ${sep} -s ${ip}/32 -j KUBE-MARK-MASQ`);
      body.push(`-A ${sep} -p tcp -m tcp -j DNAT --to-destination ${ip}:8080`);
    });
  }
  body.push('-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000');
  body.push('-A KUBE-POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE --random-fully');
  body.push('-A PREROUTING -j KUBE-SERVICES', '-A OUTPUT -j KUBE-SERVICES', '-A POSTROUTING -j KUBE-POSTROUTING');
  return `${[...l, ...body, 'COMMIT'].join('\n')}\n`;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const set = await netnsSet('prxb', ['node', 'pod', 'ipt', 'ipod'], ['10.244.0.0/16', '10.96.0.0/12']);
  const [nodeNs, podNs, iptNs, iptPodNs] = set.names;
  const inNs = (ns: string, cmd: string, a: string[], input?: string) =>
    execa('nsenter', [`--net=/run/netns/${ns}`, cmd, ...a], { input, timeout: 300_000, maxBuffer: 1 << 28 });
  const servers: ReturnType<typeof execa>[] = [];
  // Interrupted (Ctrl-C, timeout): the namespaces and routes still go away. `on`, not `once`:
  // execa's exit hook re-raises the signal (killing us before the cleanup) once it is the only
  // listener left; a second signal finds the cleanup already running.
  let cleaning: Promise<void> | undefined;
  const cleanup = () => (cleaning ??= set.cleanup());
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.on(sig, () => {
      for (const p of servers) {
        p.kill('SIGKILL');
        p.catch(() => {}); // killed on purpose: not an unhandled rejection that ends us before the cleanup
      }
      cleanup().finally(() => process.exit(130));
    });
  try {
    // Two identical node/pod pairs: one node programmed by Skiff (nftables), one by iptables-restore.
    for (const [ns, pod] of [
      [nodeNs, podNs],
      [iptNs, iptPodNs],
    ]) {
      await inNs(ns, 'ip', ['link', 'add', 'vp', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod]);
      for (const a of [
        ['link', 'set', 'lo', 'up'],
        ['link', 'set', 'vp', 'up'],
        ['addr', 'add', '10.244.201.1/24', 'dev', 'vp'],
        ['route', 'add', '10.96.0.0/12', 'dev', 'vp'],
      ])
        await inNs(ns, 'ip', a);
      for (const a of [
        ['link', 'set', 'lo', 'up'],
        ['link', 'set', 'eth0', 'up'],
        ['addr', 'add', `${POD}/24`, 'dev', 'eth0'],
      ])
        await inNs(pod, 'ip', a);
      const js = `require('net').createServer(s=>s.destroy()).listen(8080,'0.0.0.0',()=>console.log('up'))`;
      const server = execa('nsenter', [`--net=/run/netns/${pod}`, process.execPath, '-e', js]);
      servers.push(server);
      await new Promise<void>((r) => server.stdout?.once('data', () => r()));
    }

    const real = nftCommand(['nsenter', `--net=/run/netns/${nodeNs}`]);
    // Where a sync's time goes: nft's transaction and the read-back, timed around the calls.
    const spent = { apply: 0, readBack: 0 };
    const nft: Nft = {
      async apply(script) {
        const t = performance.now();
        await real.apply(script);
        spent.apply += performance.now() - t;
      },
      async readBack(tables) {
        const t = performance.now();
        const r = await real.readBack(tables);
        spent.readBack += performance.now() - t;
        return r;
      },
    };
    console.log(`# Service proxy benchmark (Skiff nftables, ${SHARDS} shard tables, vs kube-proxy iptables mode)\n`);
    console.log(
      '| Services | full sync (of it nft -f) | restart: full sync on the loaded table (of it read-back) ' +
        '| one endpoint change (median of 20) | cleanup after them | chains |',
    );
    console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
    const syncs: Record<number, { full: number; one: number }> = {};
    let rss = 0;
    for (const n of SIZES) {
      await inNs(nodeNs, 'nft', ['-f', '-'], dropTables);
      const src = world(n, 0);
      const results: SyncResult[] = [];
      const a = new ProxyApplier({
        nft,
        facts: () => facts,
        source: () => src,
        minIntervalMs: 1,
        burst: 100,
        shards: SHARDS,
        onSynced: (r) => results.push(r),
      });
      spent.apply = 0;
      a.start();
      await a.settled();
      const full = results[0].durationMs;
      const fullNft = spent.apply;
      // From the change reaching the applier to its transaction applied (the sync's render, diff and
      // nft, and any wait for the sync before it).
      const ones: number[] = [];
      for (let g = 1; g <= 20; g++) {
        const i = 1 + ((g * 7919) % Math.max(1, n - 1));
        const t = performance.now();
        src.endpointSlices.set(`bench/s${i}-x`, slice(`s${i}`, endpointsOf(i, 0), g));
        a.slicesChanged([`bench/s${i}-x`]);
        await a.settled();
        ones.push(performance.now() - t);
      }
      // The cleanup a second after the last change deletes what the changes left (nothing dirty).
      const deadline = Date.now() + 30_000;
      while (!results.some((r, k) => k > 20 && !r.full && r.keys.length === 0) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      const cleanup = results.find((r, k) => k > 20 && !r.full && r.keys.length === 0)?.durationMs ?? Number.NaN;
      a.stop();
      rss = Math.max(rss, process.memoryUsage().rss);
      // An agent restart: a fresh applier's full sync reads the table back and finds little to do.
      await new Promise((r) => setTimeout(r, 1500));
      const again: SyncResult[] = [];
      const b = new ProxyApplier({
        nft,
        facts: () => facts,
        source: () => src,
        shards: SHARDS,
        onSynced: (r) => again.push(r),
      });
      spent.readBack = 0;
      b.start();
      await b.settled();
      b.stop();
      const restart = again[0].durationMs;
      // Counted from `nft list chains` (listing the whole table at 10,000 Services takes the kernel minutes).
      const chains = String((await inNs(nodeNs, 'nft', ['list', 'chains', 'ip'])).stdout)
        .split('\n')
        .filter((l) => /^\s*chain /.test(l)).length;
      syncs[n] = { full, one: median(ones) };
      console.log(
        `| ${n} | ${full.toFixed(0)} ms (${fullNft.toFixed(0)} ms) | ${restart.toFixed(0)} ms ` +
          `(${spent.readBack.toFixed(0)} ms) | ${median(ones).toFixed(1)} ms | ${cleanup.toFixed(0)} ms | ${chains} |`,
      );
    }
    const big = SIZES.at(-1) as number;
    console.log(
      `\none-endpoint change: ${(syncs[big].one / syncs[SIZES[0]].one).toFixed(2)}x at ${big} ` +
        `vs ${SIZES[0]} Services (flat = 1); bench process RSS after ${big}: ${(rss / 2 ** 20).toFixed(0)} MiB`,
    );

    if (args.includes('--syncs-only')) return;
    // Connection rate: sequential connect/close from the node namespace for SECONDS each.
    const rate = async (ns: string, ip: string, port: number) => {
      const code =
        `const net=require('net');const end=Date.now()+${SECONDS * 1000};let n=0,lat=0;(function ` +
        `go(){if(Date.now()>end){console.log(JSON.stringify({n,lat}));return}const t=process.hrtime.bigint();` +
        `const s=net.connect(${port},'${ip}',()=>{lat+=Number(process.hrtime.bigint()-t)/1e6;n++;s.destroy();` +
        `go()});s.on('error',e=>{console.log(JSON.stringify({error:e.code}));process.exit(1)})})()`;
      const out = JSON.parse(String((await inNs(ns, process.execPath, ['-e', code])).stdout));
      if (out.error) throw new Error(`${ip}:${port}: ${out.error}`);
      return { perSec: out.n / SECONDS, latMs: out.lat / out.n };
    };
    console.log('\n| Services | Skiff conn/s | connect ms | iptables conn/s | connect ms | pod IP direct conn/s |');
    console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
    const conn: Record<number, { skiff: number; ipt: number; direct: number }> = {};
    for (const n of [SIZES[0], big]) {
      // The probed Service is the last in iptables' linear list (its worst case, and the common one at scale).
      const probe = n - 1;
      await inNs(nodeNs, 'nft', ['-f', '-'], dropTables);
      const src = world(n, probe);
      const a = new ProxyApplier({ nft, facts: () => facts, source: () => src, shards: SHARDS });
      a.start();
      await a.settled();
      a.stop();
      await inNs(iptNs, 'iptables-restore', [], iptablesRules(n, probe));
      const sk = await rate(nodeNs, svcIP(probe), 80);
      const ip = await rate(iptNs, svcIP(probe), 80);
      const direct = await rate(nodeNs, POD, 8080);
      conn[n] = { skiff: sk.perSec, ipt: ip.perSec, direct: direct.perSec };
      console.log(
        `| ${n} | ${sk.perSec.toFixed(0)} | ${sk.latMs.toFixed(3)} | ${ip.perSec.toFixed(0)} ` +
          `| ${ip.latMs.toFixed(3)} | ${direct.perSec.toFixed(0)} |`,
      );
    }
    const c = conn[big];
    console.log(
      `\nat ${big} Services: Skiff ${(c.skiff / conn[SIZES[0]].skiff).toFixed(2)}x its rate at ${SIZES[0]} ` +
        `(goal >= 0.95), ` +
        (`${(c.skiff / c.ipt).toFixed(2)}x iptables mode (goal >= 3), ${(c.skiff / c.direct).toFixed(2)}x ` +
          `the pod IP directly (goal >= 0.9)`),
    );
  } finally {
    for (const p of servers) p.kill('SIGKILL');
    await Promise.allSettled(servers);
    await cleanup();
  }
}

await main();
