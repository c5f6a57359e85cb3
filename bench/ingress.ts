// Skiff's ingress proxy against nginx and HAProxy (Debian's, one worker each) as reverse proxies
// in front of the same backend, with wrk from Debian, all on 127.0.0.1. For each: keep-alive
// req/s and p50/p99 over plain HTTP and over TLS, and new TLS handshakes per second (every request
// on a new connection), and the proxy's CPU time per request (its process tree, from /proc).
// Also wrk straight to the backend, the limit no proxy passes. The targets take turns in rounds,
// kind by kind (each round starting at another target), each measurement after 1 s of warm-up;
// the tables give the medians over the rounds and Skiff / nginx round by round.
// Skiff's proxy runs with the Node flags bin/skiff gives an agent. nginx and HAProxy route by host
// and set the same forwarding headers Skiff sets; the bench prints what the backend received.
// Needs: apt-get install wrk nginx-light haproxy (a missing proxy is skipped and said so).
// Run: node bench/ingress.ts [seconds per measurement, 5] [connections, 32] [rounds, 3]
import { execa, type ResultPromise } from 'execa';
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, get } from 'node:http';
import { type AddressInfo, connect, createServer as createNetServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { procStat } from '../agent/host/proc-stat.ts';
import { agentNodeFlags } from '../test/helpers/node-flags.ts';
import { median } from './stats.ts';
import { parseWrk, type WrkFigures } from './wrk-output.ts';

const BODY = Buffer.alloc(1024, 'x');
const HOST = 'bench.test';

// The peers do the per-request work the issue asks of Skiff's ingress: route by host and set
// X-Forwarded-For/-Proto/-Host/-Port, X-Real-IP and X-Request-ID (ingress-nginx sets the same).
const FORWARDED_NGINX = [
  'proxy_set_header Host $host;',
  'proxy_set_header X-Request-ID $req_id;',
  'proxy_set_header X-Real-IP $remote_addr;',
  'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
  'proxy_set_header X-Forwarded-Host $host;',
  'proxy_set_header X-Forwarded-Port $server_port;',
  'proxy_set_header X-Forwarded-Proto $scheme;',
].join(' ');

const FORWARDED = [
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-real-ip',
  'x-request-id',
];

/** The forwarding headers a request through a target reached the backend with. */
async function forwardedBy(port: number): Promise<string> {
  return new Promise((ok) => {
    get({ host: '127.0.0.1', port, path: '/headers', headers: { host: HOST } }, (r) => {
      let body = '';
      r.on('data', (d) => (body += d));
      r.on('end', () => ok(`${r.statusCode}: ${body}`));
    }).on('error', (e) => ok(e.message));
  });
}

type Result = WrkFigures;
/** One measurement: wrk's figures and the target's CPU time per request in µs. */
type Sample = Result & { us: number };

/** Keep-alive plain HTTP, keep-alive HTTPS, and HTTPS with a new connection (handshake) per request. */
const PHASES = ['http', 'https', 'handshakes'] as const;

/** One row per target: the median of each figure over the rounds. */
function printMedians(targets: { name: string }[], samples: Map<string, Sample[]>): void {
  console.log(
    '| target | http req/s | p50 | p99 | CPU µs/req | https req/s | p50 | p99 | CPU µs/req ' +
      '| new TLS handshakes/s | CPU µs/handshake | errors |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const t of targets) {
    const of = (phase: string) => samples.get(`${t.name}|${phase}`) ?? [];
    const med = (phase: string, f: (s: Sample) => number, digits: number) => {
      const v = median(
        of(phase)
          .map(f)
          .filter((x) => !Number.isNaN(x)),
      );
      return Number.isNaN(v) ? '-' : v.toFixed(digits);
    };
    const cells = (phase: string) => [
      med(phase, (s) => s.rps, 0),
      med(phase, (s) => s.p50, 2),
      med(phase, (s) => s.p99, 2),
      med(phase, (s) => s.us, 0),
    ];
    const errors = PHASES.flatMap((p) => of(p).map((s) => s.errors)).filter(Boolean);
    const hs = [med('handshakes', (s) => s.rps, 0), med('handshakes', (s) => s.us, 0)];
    console.log(
      `| ${[t.name, ...cells('http'), ...cells('https'), ...hs, [...new Set(errors)].join('; ')].join(' | ')} |`,
    );
  }
}

/** Skiff against nginx round by round (same round, minutes apart at most), and the goal on the medians. */
function printRatios(samples: Map<string, Sample[]>, rounds: number): void {
  const skiff = (p: string) => samples.get(`skiff|${p}`) ?? [];
  const nginx = (p: string) => samples.get(`nginx|${p}`) ?? [];
  if (!nginx('http').length) return;
  console.log('| Skiff / nginx | req/s by round | median | p99 by round | median | goal (≥ 0.8x, p99 ≤ 1.5x) |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const p of PHASES) {
    const rate: number[] = [];
    const p99: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const [s, n] = [skiff(p)[i], nginx(p)[i]];
      if (!s || !n) continue;
      rate.push(s.rps / n.rps);
      p99.push(s.p99 / n.p99);
    }
    const [mr, mp] = [median(rate), median(p99)];
    const x = (v: number) => `${v.toFixed(2)}x`;
    const goal = p === 'handshakes' ? '(no goal)' : mr >= 0.8 && mp <= 1.5 ? 'met' : 'not met';
    const row = [p, rate.map(x).join(' '), x(mr), p99.map(x).join(' '), x(mp), goal];
    console.log(`| ${row.join(' | ')} |`);
  }
}

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const p = (s.address() as AddressInfo).port;
  await new Promise((ok) => s.close(ok));
  return p;
}

/** Child roles: `backend`, or `skiff <backendPort> <certDir>` (prints "http,https"). */
async function child(role: string, args: string[]): Promise<string> {
  if (role === 'backend') {
    // /headers answers with the names of the forwarding headers the request arrived with.
    const s = createServer((q, r) =>
      r.end(q.url === '/headers' ? FORWARDED.filter((h) => q.headers[h] !== undefined).join(' ') || '-' : BODY),
    );
    await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
    return String((s.address() as AddressInfo).port);
  }
  const [upstream, certDir] = args;
  const { startLoopbackIngress, loopbackRoutes } = await import('../test/helpers/loopback-ingress.ts');
  const { proxy, certs } = await startLoopbackIngress(certDir);
  const table = loopbackRoutes(
    [
      {
        metadata: { name: 'b', namespace: 'default', annotations: { 'skiff.io/ssl-redirect': 'false' } },
        spec: {
          tls: [{ hosts: [HOST], secretName: 'tls' }],
          rules: [
            {
              host: HOST,
              http: {
                paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'b', port: { number: 80 } } } }],
              },
            },
          ],
        },
      },
    ],
    { b: Number(upstream) },
  );
  const b64 = (f: string) => readFileSync(join(certDir, f)).toString('base64');
  certs.update(
    table,
    new Map([
      [
        'default/tls',
        {
          metadata: { name: 'tls', namespace: 'default' },
          type: 'kubernetes.io/tls',
          data: { 'tls.crt': b64('default.crt'), 'tls.key': b64('default.key') },
        },
      ],
    ]),
  );
  proxy.setTable(table);
  const p = proxy.ports();
  return `${p.http},${p.https}`;
}

function fork1(role: string, args: string[] = [], flags: string[] = []): Promise<{ proc: ChildProcess; out: string }> {
  const proc = fork(import.meta.filename, ['child', role, ...args], {
    stdio: 'inherit',
    execArgv: [...process.execArgv, ...flags],
  });
  return new Promise((ok, fail) => {
    proc.once('message', (m) => ok({ proc, out: String(m) }));
    proc.once('exit', (c) => fail(new Error(`${role} exited with ${c}`)));
  });
}

async function wrk(url: string, seconds: number, conns: number, close = false): Promise<Result> {
  const args = ['-t1', `-c${conns}`, `-d${seconds}s`, '--latency', '-H', `Host: ${HOST}`];
  if (close) args.push('-H', 'Connection: close');
  const r = await execa('wrk', [...args, url], { timeout: (seconds + 30) * 1000 });
  return parseWrk(r.stdout);
}

/** CPU seconds (user + system) used so far by a process and its descendants, from /proc. */
function cpuSeconds(root: number): number {
  const stats = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .flatMap((d) => {
      const st = procStat(d);
      return st ? [{ pid: Number(d), ...st }] : [];
    });
  const tree = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of stats)
      if (tree.has(p.ppid) && !tree.has(p.pid)) {
        tree.add(p.pid);
        grew = true;
      }
  }
  return stats.filter((p) => tree.has(p.pid)).reduce((a, p) => a + p.cpuSeconds, 0);
}

const has = async (bin: string) => (await execa('sh', ['-c', `command -v ${bin}`], { reject: false })).exitCode === 0;

/** What a TLS client negotiates with a target (openssl s_client): protocol, cipher, key exchange, tickets. */
async function tlsParams(port: number): Promise<string> {
  const r = await execa('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', HOST, '-ign_eof'], {
    input: `GET / HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`,
    reject: false,
    timeout: 10_000,
  });
  const out = `${r.stdout}\n${r.stderr}`;
  const cipher = /New, (\S+), Cipher is (\S+)/.exec(out);
  const group = /(?:Server Temp Key|Negotiated TLS1\.3 group): ([^\n]+)/.exec(out)?.[1] ?? '?';
  const sig = /Peer signature type: (\S+)/.exec(out)?.[1] ?? '?';
  const tickets = (out.match(/TLS session ticket:/g) ?? []).length;
  return `${cipher?.[1] ?? '?'} ${cipher?.[2] ?? '?'}, ${group}, ${sig} certificate, ${tickets} session ticket(s)`;
}

async function waitPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((ok) => {
      const c = connect(port, '127.0.0.1', () => {
        c.destroy();
        ok(true);
      });
      c.on('error', () => ok(false));
    });
    if (up) return;
    await new Promise((ok) => setTimeout(ok, 100));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

async function main() {
  const seconds = Number(process.argv[2] ?? 5);
  const conns = Number(process.argv[3] ?? 32);
  const rounds = Number(process.argv[4] ?? 3);
  if (!(await has('wrk'))) throw new Error('wrk is needed (apt-get install wrk)');
  const dir = mkdtempSync(join(tmpdir(), 'ing-bench-'));
  const procs: (ChildProcess | ResultPromise)[] = [];
  try {
    const backend = await fork1('backend');
    procs.push(backend.proc);
    const up = Number(backend.out);
    // Skiff's proxy runs as in an agent: with the Node flags bin/skiff starts an agent with.
    const flags = agentNodeFlags();
    console.log(`skiff's proxy: node ${flags.join(' ')} (bin/skiff's agent_node_flags)`);
    const skiff = await fork1('skiff', [String(up), dir], flags);
    procs.push(skiff.proc);
    const [sh, ss] = skiff.out.split(',').map(Number);
    const targets: { name: string; http: number; https?: number; pid?: number }[] = [
      { name: 'backend (direct)', http: up, pid: backend.proc.pid },
      { name: 'skiff', http: sh, https: ss, pid: skiff.proc.pid },
    ];
    const pem = join(dir, 'both.pem');
    writeFileSync(pem, readFileSync(join(dir, 'default.crt'), 'utf8') + readFileSync(join(dir, 'default.key'), 'utf8'));
    if (await has('nginx')) {
      const [h, s] = [await freePort(), await freePort()];
      writeFileSync(
        join(dir, 'nginx.conf'),
        `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/nginx-body;
  proxy_temp_path ${dir}/nginx-proxy;
  upstream b { server 127.0.0.1:${up}; keepalive 64; }
  # The client's X-Request-ID when it sent one, otherwise a new one, as Skiff (and ingress-nginx) do.
  map $http_x_request_id $req_id { default $http_x_request_id; "" $request_id; }
  server {
    listen 127.0.0.1:${h};
    listen 127.0.0.1:${s} ssl;
    server_name ${HOST};
    ssl_certificate ${dir}/default.crt;
    ssl_certificate_key ${dir}/default.key;
    # nginx 1.22 (Debian 12) leaves TLS 1.3 out by default; Skiff and HAProxy negotiate it.
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://b;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      ${FORWARDED_NGINX}
    }
  }
}
`,
      );
      const p = execa('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], { reject: false });
      procs.push(p);
      await waitPort(h);
      targets.push({ name: 'nginx', http: h, https: s, pid: p.pid });
    } else console.log('nginx: not installed (apt-get install nginx-light), skipped');
    if (await has('haproxy')) {
      const [h, s] = [await freePort(), await freePort()];
      writeFileSync(
        join(dir, 'haproxy.cfg'),
        `global
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend f
  bind 127.0.0.1:${h}
  bind 127.0.0.1:${s} ssl crt ${pem}
  option forwardfor
  http-request set-header X-Real-IP %[src]
  http-request set-header X-Forwarded-Proto https if { ssl_fc }
  http-request set-header X-Forwarded-Proto http unless { ssl_fc }
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  http-request set-header X-Forwarded-Port %[dst_port]
  http-request set-header X-Request-ID %[uuid] unless { req.hdr(x-request-id) -m found }
  use_backend b if { req.hdr(host),field(1,:) -i ${HOST} }
backend b
  http-reuse always
  server s1 127.0.0.1:${up}
`,
      );
      const p = execa('haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], { reject: false });
      procs.push(p);
      await waitPort(h);
      targets.push({ name: 'haproxy', http: h, https: s, pid: p.pid });
    } else console.log('haproxy: not installed (apt-get install haproxy), skipped');

    const load0 = loadavg()[0];
    // The same cert for all; the protocol and parameters each negotiates with a client like wrk's.
    for (const t of targets) if (t.https) console.log(`${t.name} TLS: ${await tlsParams(t.https)}`);
    for (const t of targets) console.log(`${t.name} forwards: ${await forwardedBy(t.http)}`);
    const samples = new Map<string, Sample[]>();
    for (let round = 0; round < rounds; round++) {
      // Kind by kind, the targets one after another, each round starting at another target: the
      // measurements Skiff / nginx compares are seconds apart, so a machine whose speed drifts
      // during the run (this VM's does, by up to 2x) weighs on both alike.
      const order = targets.map((_, i) => targets[(i + round) % targets.length]);
      for (const phase of PHASES)
        for (const t of order) {
          if (phase !== 'http' && !t.https) continue;
          const url = phase === 'http' ? `http://127.0.0.1:${t.http}/` : `https://127.0.0.1:${t.https}/`;
          const close = phase === 'handshakes';
          // Warm-up of this very path: Node's JIT settles per kind of socket, pools and sessions fill.
          await wrk(url, 1, conns, close);
          // CPU per request (the target's process tree): what the machine's other load inflates less than req/s.
          const cpu0 = t.pid ? cpuSeconds(t.pid) : 0;
          const r = await wrk(url, seconds, conns, close);
          const us = t.pid ? ((cpuSeconds(t.pid) - cpu0) * 1e6) / (r.rps * seconds) : Number.NaN;
          const key = `${t.name}|${phase}`;
          samples.set(key, [...(samples.get(key) ?? []), { ...r, us }]);
          console.log(
            `round ${round + 1} ${phase} ${t.name}: ${r.rps.toFixed(0)} req/s, p99 ${r.p99.toFixed(2)} ms, ` +
              `${us.toFixed(0)} µs CPU/req`,
          );
        }
      console.log(`round ${round + 1}/${rounds} done, load average ${loadavg()[0].toFixed(2)}`);
    }
    console.log(`wrk -t1 -c${conns} -d${seconds}s per measurement, ${rounds} interleaved rounds, each after 1 s of`);
    console.log('warm-up of the same kind; keep-alive, 1 KiB responses; ms latencies; medians over the rounds');
    console.log(`load average (1 min) at the start ${load0.toFixed(2)}, at the end ${loadavg()[0].toFixed(2)}`);
    printMedians(targets, samples);
    printRatios(samples, rounds);
  } finally {
    for (const p of procs) p.kill();
    await new Promise((ok) => setTimeout(ok, 300));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'child') {
  const out = await child(process.argv[3], process.argv.slice(4));
  process.send?.(out);
} else await main();
