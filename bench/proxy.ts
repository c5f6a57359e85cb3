// Service proxy benchmark, in network namespaces made for it (a "node" holding the table and a
// "pod" with nginx behind a veth): full sync time at 10, 1,000 and 10,000 Services with 5
// endpoints each (and how much of it nft's transaction took), the full sync of a restarted agent
// on the loaded table (and its read-back), the time from one endpoint change reaching the applier
// to its transaction applied at each size, and the cleanup transaction a second later,
// the process's RSS at the largest; then new connections per second and their latency through a
// ClusterIP with 10 and with 10,000 Services loaded, against the same Services as a kube-proxy
// iptables-mode ruleset (linear KUBE-SERVICES list, per-service chains with statistic
// probabilities, loaded with iptables-restore in its own namespace), and against connecting to
// the pod IP directly. Connections are counted twice: bare TCP handshakes (bench/connrate.c, built
// with gcc: connect, then close with a reset), where the nat hook's share of a connection's cost
// is largest, and HTTP requests each on a new connection (wrk, `Connection: close`).
// Usage: node bench/proxy.ts [--sizes 10,1000,10000] [--seconds 3] [--conns 16] [--rounds 3] [--shards K]
//   [--syncs-only]
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { ProxyApplier, type SyncResult } from '../agent/proxy/applier.ts';
import { nftCommand, type Nft } from '../agent/proxy/nft.ts';
import { DEFAULT_SHARDS, shardTable, TABLE } from '../agent/proxy/model.ts';
import { procStat } from '../agent/host/proc-stat.ts';
import { netnsSet } from '../test/helpers/netns.ts';
import { until } from '../test/helpers/sandbox.ts';
import { endpointsOf, facts, POD, slice, svcIP, world } from './proxy-fixture.ts';
import { parseWrk } from './wrk-output.ts';
import { median } from './stats.ts';

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
    // With --cluster-cidr, kube-proxy masquerades what comes from outside the pod network, as Skiff does.
    body.push(`-A ${svc} ! -s ${facts.clusterCIDR} -d ${svcIP(i)}/32 -p tcp -m tcp --dport 80 -j KUBE-MARK-MASQ`);
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

const CONNS = Number(opt('--conns', '16'));
const ROUNDS = Number(opt('--rounds', '3'));

interface WrkRun {
  perSec: number;
  p50: number;
  p99: number;
}
const NO_RUN: WrkRun = { perSec: 0, p50: Number.NaN, p99: Number.NaN };

/** nginx (Debian's) in a pod namespace, one process, answering 204 on 8080 and 8081 and closing. */
async function startNginx(pod: string): Promise<{ proc: ReturnType<typeof execa>; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), `prxb-${pod}-`));
  // One process (master_process off), so killing the PID we started leaves no worker behind.
  writeFileSync(
    join(dir, 'nginx.conf'),
    `master_process off;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_timeout 0;
  client_body_temp_path ${dir}/body;
  server { listen 8080 backlog=4096; listen 8081 backlog=4096; location / { return 204; } }
}
`,
  );
  const p = execa('nsenter', [`--net=/run/netns/${pod}`, 'nginx', '-c', join(dir, 'nginx.conf'), '-p', dir], {
    reject: false,
  });
  try {
    await until(`nginx in ${pod}`, async () => {
      if (p.exitCode !== null) throw new Error(`nginx exited: ${readFileSync(join(dir, 'error.log'), 'utf8')}`);
      const ss = await execa('nsenter', [`--net=/run/netns/${pod}`, 'ss', '-Hltn', 'sport = :8081'], {
        reject: false,
      });
      return String(ss.stdout).includes('8081');
    });
  } catch (e) {
    // Not yet known to the caller's cleanup: stopped and removed here.
    p.kill('SIGKILL');
    await p;
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  // Wrapped: an execa subprocess is a promise, and returning it bare would wait for nginx to end.
  return { proc: p, dir };
}

/** Builds bench/connrate.c into `dir`; its path. */
async function buildConnrate(dir: string): Promise<string> {
  const out = join(dir, 'connrate');
  const src = join(import.meta.dirname, 'connrate.c');
  const r = await execa('gcc', ['-O2', '-o', out, src], { reject: false });
  if (r.exitCode !== 0) throw new Error(`gcc bench/connrate.c (apt-get install gcc): ${r.stderr || r.message}`);
  return out;
}

/** Bare TCP handshakes from a namespace (bench/connrate.c); rate and connect latency in ms. */
async function tcpConnections(bin: string, ns: string, ip: string, port: number, seconds: number): Promise<WrkRun> {
  const r = await execa('nsenter', [`--net=/run/netns/${ns}`, bin, ip, String(port), String(seconds), String(CONNS)], {
    timeout: (seconds + 30) * 1000,
  });
  const c = JSON.parse(String(r.stdout)) as {
    connections: number;
    errors: number;
    perSec: number;
    p50: number;
    p99: number;
  };
  // Refused or timed-out connects would make the rate a measure of something else: refuse the run.
  if (c.errors)
    throw new Error(`connrate to ${ip}:${port}: ${c.errors} failed connects of ${c.connections + c.errors}`);
  return { perSec: c.perSec, p50: c.p50, p99: c.p99 };
}

/** wrk from a namespace, a new connection per request; its rate and latency percentiles in ms. */
async function wrkNewConnections(ns: string, ip: string, port: number, seconds: number): Promise<WrkRun> {
  const r = await execa(
    'nsenter',
    [
      `--net=/run/netns/${ns}`,
      'wrk',
      '-t1',
      `-c${CONNS}`,
      `-d${seconds}s`,
      '--latency',
      '-H',
      'Connection: close',
      `http://${ip}:${port}/`,
    ],
    { timeout: (seconds + 30) * 1000 },
  );
  const w = parseWrk(String(r.stdout));
  // Connect errors or timeouts would make the rate a measure of something else: refuse the run.
  if (w.errors) throw new Error(`wrk to ${ip}:${port}: ${w.errors}`);
  return { perSec: w.rps, p50: w.p50, p99: w.p99 };
}

/**
 * CPU seconds so far of what an agent's proxy is: this process (the applier), the `nft` it ran
 * and waited for, and the long-lived `nft` it still runs.
 */
function proxyCpuSeconds(): number {
  const self = procStat(process.pid);
  let live = 0;
  for (const task of readdirSync('/proc/self/task'))
    for (const pid of readFileSync(`/proc/self/task/${task}/children`, 'utf8').split(' ').filter(Boolean)) {
      let comm = '';
      try {
        comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      } catch {}
      if (comm === 'nft') live += procStat(pid)?.cpuSeconds ?? 0;
    }
  return (self?.cpuSeconds ?? 0) + (self?.childrenCpuSeconds ?? 0) + live;
}
/** Seconds the proxy runs idle, its CPU measured, with everything loaded. */
const IDLE_SECONDS = 5;

async function main() {
  const set = await netnsSet('prxb', ['node', 'pod', 'ipt', 'ipod'], ['10.244.0.0/16', '10.96.0.0/12']);
  const [nodeNs, podNs, iptNs, iptPodNs] = set.names;
  const inNs = (ns: string, cmd: string, a: string[], input?: string) =>
    execa('nsenter', [`--net=/run/netns/${ns}`, cmd, ...a], { input, timeout: 300_000, maxBuffer: 1 << 28 });
  const servers: ReturnType<typeof execa>[] = [];
  const dirs: string[] = [];
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
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
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
      // nginx closes each connection first, so the pod would keep one TIME_WAIT socket per
      // connection for a minute: hundreds of thousands over the runs, and a masqueraded SYN whose
      // random source port meets one of them is delayed. None are kept, so every run starts equal.
      await inNs(pod, 'sysctl', ['-qw', 'net.ipv4.tcp_max_tw_buckets=0']);
      const nginx = await startNginx(pod);
      servers.push(nginx.proc);
      dirs.push(nginx.dir);
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
        '| one endpoint change (median / max of 20) | cleanup after them | chains | CPU: full sync / idle |',
    );
    console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
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
      const cpu0 = proxyCpuSeconds();
      a.start();
      await a.settled();
      const fullCpu = proxyCpuSeconds() - cpu0;
      const full = results[0].durationMs;
      const fullNft = spent.apply;
      // From the change reaching the applier to its transaction applied (the sync's render, diff and
      // nft, and any wait for the sync before it).
      // Each change replaces one endpoint of a Service by a pod address not used before, so every
      // one of them is a real change (one toggling the port back to the loaded one changed nothing).
      const ones: number[] = [];
      const current = new Map<number, string[]>();
      for (let g = 1; g <= 20; g++) {
        const i = 1 + ((g * 7919) % Math.max(1, n - 1));
        const eps = [...(current.get(i) ?? endpointsOf(i, 0))];
        eps[g % eps.length] = `10.244.${210 + (g >> 8)}.${(g % 250) + 1}`;
        current.set(i, eps);
        const t = performance.now();
        src.endpointSlices.set(`bench/s${i}-x`, slice(`s${i}`, eps, 0));
        a.slicesChanged([`bench/s${i}-x`]);
        await a.settled();
        ones.push(performance.now() - t);
        if (results.at(-1)?.lines === 0) throw new Error(`change ${g} wrote nothing: the bench changed nothing`);
      }
      // The cleanup a second after the last change deletes what the changes left (nothing dirty).
      const deadline = Date.now() + 30_000;
      while (!results.some((r, k) => k > 20 && !r.full && r.keys.length === 0) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      const cleanup = results.find((r, k) => k > 20 && !r.full && r.keys.length === 0)?.durationMs ?? Number.NaN;
      // Idle with everything loaded: what the agent's proxy costs a node between changes.
      const idle0 = proxyCpuSeconds();
      await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
      const idlePct = ((proxyCpuSeconds() - idle0) / IDLE_SECONDS) * 100;
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
          `(${spent.readBack.toFixed(0)} ms) | ${median(ones).toFixed(1)} / ${Math.max(...ones).toFixed(1)} ms ` +
          `| ${cleanup.toFixed(0)} ms | ${chains} | ${fullCpu.toFixed(2)} s / ${idlePct.toFixed(1)} % |`,
      );
    }
    const big = SIZES.at(-1) as number;
    console.log(
      `\none-endpoint change: ${(syncs[big].one / syncs[SIZES[0]].one).toFixed(2)}x at ${big} ` +
        `vs ${SIZES[0]} Services (flat = 1); bench process RSS after ${big}: ${(rss / 2 ** 20).toFixed(0)} MiB`,
    );

    if (args.includes('--syncs-only')) return;
    // New connections per second, two ways: bare TCP handshakes (connrate, closed with a reset)
    // and wrk sending every request on a new connection (`Connection: close`) to nginx in the pod,
    // which answers 204. Either way each connection's first packet takes one trip through the nat
    // hook; the HTTP exchange adds work the proxy has no part in, so it shrinks the ratios. The
    // direct runs use the pod's port 8081, the Services' endpoints 8080, and conntrack is flushed
    // before each run: a direct connection must not meet the tuple of a DNATed one from the run
    // before (that clash made "direct" the slowest in earlier versions).
    const buildDir = mkdtempSync(join(tmpdir(), 'prxb-connrate-'));
    dirs.push(buildDir);
    const connrate = await buildConnrate(buildDir);
    type Driver = (ns: string, ip: string, port: number, seconds: number) => Promise<WrkRun>;
    const drivers: [string, Driver][] = [
      ['bare TCP connections (connect, reset)', (ns, ip, port, sec) => tcpConnections(connrate, ns, ip, port, sec)],
      ['HTTP on new connections (wrk, Connection: close, 204)', wrkNewConnections],
    ];
    const newConns = async (drive: Driver, ns: string, ip: string, port: number) => {
      for (const n of [nodeNs, iptNs]) await inNs(n, 'conntrack', ['-F']).catch(() => {});
      return drive(ns, ip, port, SECONDS);
    };
    type Rates = { skiff: WrkRun; ipt: WrkRun; direct: WrkRun };
    const results = new Map<string, Record<number, Rates>>(drivers.map(([name]) => [name, {}]));
    // Unmeasured: the first connections of a run meet cold caches, ARP and nginx's first accepts.
    for (const [, drive] of drivers) await drive(nodeNs, POD, 8081, 1);
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
      const better = (x: WrkRun, y: WrkRun) => (y.perSec > x.perSec ? y : x);
      for (const [name, drive] of drivers) {
        const best: Rates = { skiff: NO_RUN, ipt: NO_RUN, direct: NO_RUN };
        for (let r = 0; r < ROUNDS; r++) {
          best.skiff = better(best.skiff, await newConns(drive, nodeNs, svcIP(probe), 80));
          best.ipt = better(best.ipt, await newConns(drive, iptNs, svcIP(probe), 80));
          best.direct = better(best.direct, await newConns(drive, nodeNs, POD, 8081));
        }
        (results.get(name) as Record<number, Rates>)[n] = best;
      }
    }
    const cell = (w: WrkRun) => `${w.perSec.toFixed(0)} | ${w.p50.toFixed(3)} / ${w.p99.toFixed(3)}`;
    for (const [name] of drivers) {
      const conn = results.get(name) as Record<number, Rates>;
      console.log(
        `
new connections: ${name}; ${CONNS} in flight, ${SECONDS} s each, best of ${ROUNDS} interleaved ` +
          'rounds; latency = connect (+ answer for HTTP)\n',
      );
      console.log(
        '| Services | Skiff conn/s | p50 / p99 ms | iptables mode conn/s | p50 / p99 ms | pod IP direct conn/s ' +
          '| p50 / p99 ms |',
      );
      console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
      for (const n of [SIZES[0], big])
        console.log(`| ${n} | ${cell(conn[n].skiff)} | ${cell(conn[n].ipt)} | ${cell(conn[n].direct)} |`);
      const c = conn[big];
      console.log(
        `
at ${big} Services: Skiff ${(c.skiff.perSec / conn[SIZES[0]].skiff.perSec).toFixed(2)}x its rate at ` +
          `${SIZES[0]} (goal >= 0.95), ${(c.skiff.perSec / c.ipt.perSec).toFixed(2)}x iptables mode (goal >= 3), ` +
          `${(c.skiff.perSec / c.direct.perSec).toFixed(2)}x the pod IP directly (goal >= 0.9); the pod IP ` +
          `directly is ${(c.direct.perSec / c.ipt.perSec).toFixed(2)}x iptables mode (the most any proxy could reach)`,
      );
    }
  } finally {
    for (const p of servers) p.kill('SIGKILL');
    await Promise.allSettled(servers);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    await cleanup();
  }
}

await main();
