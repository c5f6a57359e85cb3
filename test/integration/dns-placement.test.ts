// Cluster DNS placement against the real kernel, in a namespace of its own (blackhole route for
// the service range first): the resolver process runs inside it under nsenter, binds the cluster
// DNS address on skiff-dns0, answers dig over UDP and TCP without a single conntrack entry, and
// a second resolver process started next to the first takes over with the failed queries counted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { netnsSet, type NetnsSet } from '../helpers/netns.ts';

const root = join(import.meta.dirname, '..', '..');
const node = join(root, 'node_modules', '.bin', 'node');
const DNS_IP = '10.96.0.10';
let ns: NetnsSet;
let dir: string;
const procs: ChildProcess[] = [];

function startResolver(): Promise<ChildProcess> {
  const child = spawn(
    'nsenter',
    [
      `--net=/run/netns/${ns.names[0]}`,
      node,
      join(root, 'agent/dns/standalone.ts'),
      DNS_IP,
      '53',
      join(dir, 'zone.json'),
      '-',
      '--placement',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  procs.push(child);
  return new Promise((resolve, reject) => {
    let err = '';
    const t = setTimeout(() => reject(new Error(`resolver not ready in 10 s: ${err}`)), 10_000);
    child.stderr?.on('data', (d) => (err += d));
    child.stdout?.on('data', (d) => {
      if (String(d).includes('ready')) {
        clearTimeout(t);
        resolve(child);
      }
    });
    child.on('exit', (code) => reject(new Error(`resolver exited ${code}: ${err}`)));
  });
}

const stopResolver = (c: ChildProcess) =>
  new Promise<void>((r) => {
    if (c.exitCode !== null) return r();
    c.once('exit', () => r());
    c.kill('SIGTERM');
  });

before(async () => {
  ns = await netnsSet('dns', ['node'], ['10.96.0.0/12']);
  dir = mkdtempSync(join(tmpdir(), 'skiff-dns-'));
  writeFileSync(
    join(dir, 'zone.json'),
    JSON.stringify({
      services: [
        {
          metadata: { name: 'web', namespace: 'app' },
          spec: { clusterIP: '10.96.1.1', ports: [{ name: 'http', port: 80 }] },
        },
      ],
      endpointSlices: [],
    }),
  );
});

after(async () => {
  for (const p of procs) await stopResolver(p);
  await ns?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const dig = async (...args: string[]) => {
  const r = await ns.exec(ns.names[0], 'dig', ['+time=2', '+tries=1', `@${DNS_IP}`, ...args]);
  return r.stdout;
};

test('dns placement: skiff-dns0 carries the address, UDP and TCP answer, nothing reaches conntrack', async () => {
  const first = await startResolver();
  try {
    const link = await ns.exec(ns.names[0], 'ip', ['-j', 'addr', 'show', 'dev', 'skiff-dns0']);
    assert.match(String(link.stdout), /"local":"10\.96\.0\.10","prefixlen":32/);
    const table = await ns.exec(ns.names[0], 'nft', ['list', 'table', 'ip', 'skiff-dns']);
    assert.match(String(table.stdout), /ip daddr 10\.96\.0\.10 udp dport 53 notrack/);
    await ns.exec(ns.names[0], 'conntrack', ['-F']);
    assert.match(await dig('+short', 'web.app.svc.cluster.local'), /^10\.96\.1\.1$/m);
    assert.match(
      await dig('+short', '+tcp', '_http._tcp.web.app.svc.cluster.local', 'SRV'),
      /^0 100 80 web\.app\.svc\.cluster\.local\.$/m,
    );
    const ct = await ns.exec(ns.names[0], 'conntrack', ['-L', '-d', DNS_IP]);
    assert.doesNotMatch(String(ct.stdout), /10\.96\.0\.10/, 'no conntrack entry for the DNS address');
    // Applying the placement again (a restarted agent) changes nothing and does not fail.
    const second = await startResolver();
    assert.match(await dig('+short', 'web.app.svc.cluster.local'), /^10\.96\.1\.1$/m);
    await stopResolver(second);
  } finally {
    await stopResolver(first);
  }
});

test('dns placement: a restart with the new resolver bound before the old one stops loses no queries', async () => {
  const old = await startResolver();
  const querier = spawn(
    'nsenter',
    [
      `--net=/run/netns/${ns.names[0]}`,
      node,
      join(root, 'test/helpers/dns-querier.ts'),
      DNS_IP,
      'web.app.svc.cluster.local',
      '10.96.1.1',
      '3000',
      '2',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  procs.push(querier);
  let out = '';
  querier.stdout?.on('data', (d) => (out += d));
  const finished = new Promise((r) => querier.once('exit', r));
  await new Promise((r) => setTimeout(r, 500));
  const next = await startResolver();
  await stopResolver(old);
  await finished;
  const result = JSON.parse(out) as { sent: number; failed: number; wrong: number };
  console.log(`restart: ${result.sent} queries, ${result.failed} unanswered, ${result.wrong} wrong`);
  assert.ok(result.sent > 200, 'the querier kept sending');
  assert.equal(result.wrong, 0);
  // Datagrams queued on the old socket when it closes are lost with it; on a loaded machine a few
  // queries also miss their 500 ms deadline. Stopping first loses about a third (see docs/dns.md).
  const bound = Math.max(2, Math.ceil(result.sent / 100));
  assert.ok(result.failed <= bound, `${result.failed} unanswered, at most ${bound}`);
  await stopResolver(next);
});
