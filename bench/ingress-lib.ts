// Which proxy core the ingress uses: the same keep-alive load (wrk, or a small Node client when
// wrk is missing) through three single-process proxies in turn, on 127.0.0.1 only:
//   skiff         Skiff's IngressProxy (fast path, own upstream side, route table, headers, limits, metrics)
//   hp3-bare      http-proxy-3's web() alone with the same agent (no ingress features)
//   pipe          a bare http.request + pipe with the same keep-alive agent (no features)
//   fetch         the global fetch (undici inside Node) per request
// and straight to the backend, the limit no proxy passes. Each runs in its own process.
// Run: node bench/ingress-lib.ts [seconds] [connections]   (VARIANTS=pipe,fetch to pick some)
import { execa } from 'execa';
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { procStat } from '../agent/host/proc-stat.ts';
import { parseWrk } from './wrk-output.ts';

const BODY = Buffer.alloc(1024, 'x');

async function listen(s: ReturnType<typeof createServer>): Promise<number> {
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  return (s.address() as AddressInfo).port;
}

/** Child process roles: the backend, or one proxy variant in front of it. */
async function child(role: string, upstream: number): Promise<number> {
  if (role === 'backend') return listen(createServer((_q, r) => r.end(BODY)));
  if (role === 'pipe') {
    const agent = new Agent({ keepAlive: true, maxSockets: 512 });
    return listen(
      createServer((req, res) => {
        const up = request(
          { host: '127.0.0.1', port: upstream, path: req.url, method: req.method, headers: req.headers, agent },
          (ur) => {
            res.writeHead(ur.statusCode ?? 502, ur.headers);
            ur.pipe(res);
          },
        );
        up.on('error', () => res.writeHead(502).end());
        req.pipe(up);
      }),
    );
  }
  if (role === 'hp3-bare') {
    const { ProxyServer } = await import('http-proxy-3');
    const proxy = new ProxyServer({});
    const agent = new Agent({ keepAlive: true, maxSockets: 512 });
    const target = { host: '127.0.0.1', port: upstream, protocol: 'http:' };
    return listen(createServer((req, res) => proxy.web(req, res, { target, agent }, () => res.writeHead(502).end())));
  }
  if (role === 'fetch') {
    return listen(
      createServer((req, res) => {
        fetch(`http://127.0.0.1:${upstream}${req.url}`, { method: req.method })
          .then(async (r) => {
            res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'text/plain' });
            res.end(Buffer.from(await r.arrayBuffer()));
          })
          .catch(() => res.writeHead(502).end());
      }),
    );
  }
  // The real ingress proxy and route table.
  const { startLoopbackIngress, loopbackRoutes } = await import('../test/helpers/loopback-ingress.ts');
  const dir = mkdtempSync(join(tmpdir(), 'ing-bench-'));
  const { proxy } = await startLoopbackIngress(dir);
  rmSync(dir, { recursive: true, force: true });
  const spec = { defaultBackend: { service: { name: 'b', port: { number: 80 } } } };
  proxy.setTable(loopbackRoutes([{ metadata: { name: 'b', namespace: 'default' }, spec }], { b: upstream }));
  return proxy.ports().http;
}

function start(role: string, upstream = 0): Promise<{ proc: ChildProcess; port: number }> {
  const proc = fork(import.meta.filename, ['child', role, String(upstream)], { stdio: 'inherit' });
  return new Promise((ok, fail) => {
    proc.once('message', (m) => ok({ proc, port: Number(m) }));
    proc.once('exit', (c) => fail(new Error(`${role} exited with ${c}`)));
  });
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const st = procStat(pid);
  if (!st) throw new Error(`process ${pid} is gone`);
  return st.cpuSeconds;
}

async function hasWrk(): Promise<boolean> {
  return (await execa('wrk', ['--version'], { reject: false })).exitCode !== 127;
}

/** req/s and p50/p99 latency in ms from wrk's --latency output. */
async function load(port: number, seconds: number, conns: number): Promise<{ rps: number; p50: number; p99: number }> {
  const r = await execa(
    'wrk',
    ['-t1', `-c${conns}`, `-d${seconds}s`, '--latency', '-H', 'Host: bench.test', `http://127.0.0.1:${port}/`],
    { timeout: (seconds + 30) * 1000 },
  );
  const w = parseWrk(r.stdout);
  if (w.errors) console.error(`  wrk reported: ${w.errors}`);
  return w;
}

async function main() {
  const seconds = Number(process.argv[2] ?? 5);
  const conns = Number(process.argv[3] ?? 32);
  if (!(await hasWrk())) throw new Error('wrk is needed (apt-get install wrk)');
  const backend = await start('backend');
  const procs = [backend.proc];
  try {
    const variants: [string, number, number][] = [['direct', backend.port, backend.proc.pid ?? 0]];
    const only = process.env.VARIANTS?.split(',');
    for (const v of ['skiff', 'hp3-bare', 'pipe', 'fetch'].filter((x) => !only || only.includes(x))) {
      const p = await start(v, backend.port);
      procs.push(p.proc);
      variants.push([v, p.port, p.proc.pid ?? 0]);
    }
    for (const [, port] of variants) await load(port, 1, conns);
    const results = new Map<string, { rps: number; p50: number; p99: number; us: number }[]>();
    // Two rounds, interleaved, so a noisy moment does not land on one variant only. CPU time per
    // request (the proxy process's own) is what other load on the machine inflates least.
    for (let round = 0; round < 2; round++)
      for (const [name, port, pid] of variants) {
        const c0 = cpuSeconds(pid);
        const r = await load(port, seconds, conns);
        const us = ((cpuSeconds(pid) - c0) * 1e6) / (r.rps * seconds);
        results.set(name, [...(results.get(name) ?? []), { ...r, us }]);
      }
    console.log(`wrk -t1 -c${conns} -d${seconds}s, 1 KiB body; best of 2 by req/s, lowest CPU of 2`);
    console.log('| variant | req/s | p50 ms | p99 ms | CPU µs/req |');
    console.log('| --- | --- | --- | --- | --- |');
    for (const [name, rs] of results) {
      const best = rs.reduce((a, b) => (b.rps > a.rps ? b : a));
      const cpu = Math.min(...rs.map((r) => r.us));
      console.log(
        `| ${name} | ${best.rps.toFixed(0)} | ${best.p50.toFixed(2)} | ${best.p99.toFixed(2)} | ${cpu.toFixed(0)} |`,
      );
    }
  } finally {
    for (const p of procs) p.kill();
  }
}

if (process.argv[2] === 'child') {
  // A clean exit on SIGINT, so that --cpu-prof writes its profile.
  process.on('SIGINT', () => process.exit(0));
  const port = await child(process.argv[3], Number(process.argv[4]));
  process.send?.(port);
} else await main();
