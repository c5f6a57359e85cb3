// The proxy applier against the real kernel, in network namespaces made for the test: a "node"
// namespace holding the table and a "pod" namespace behind a veth with a TCP server. Connections
// from the node to ClusterIPs go through the table; syncs touch only what changed; a new applier
// (an agent restart) adopts the table without changing what was right.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import type { EndpointSlice, Service } from '../../controlplane/shared/kube/index.ts';
import { ProxyApplier, type ProxySource, type SyncResult } from '../../agent/proxy/applier.ts';
import { nftCommand, type Nft } from '../../agent/proxy/nft.ts';
import type { ProxyNodeFacts } from '../../agent/proxy/render.ts';
import { shardOf, shardTable, TABLE } from '../../agent/proxy/model.ts';
import { netnsSet } from '../helpers/netns.ts';

const facts: ProxyNodeFacts = {
  nodeName: 'n1',
  nodeIPs: ['10.244.201.1'],
  podCIDR: '10.244.201.0/24',
  clusterCIDR: '10.244.0.0/16',
  serviceCIDR: '10.96.0.0/12',
  clusterDNS: '10.96.0.10',
};

const svc = (name: string, ip: string, port = 80): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { namespace: 'default', name },
  spec: { clusterIP: ip, ports: [{ name: 'p', port, protocol: 'TCP' }] },
});
const slice = (svcName: string, ip: string, port: number): EndpointSlice => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { namespace: 'default', name: `${svcName}-x`, labels: { 'kubernetes.io/service-name': svcName } },
  addressType: 'IPv4',
  ports: [{ name: 'p', port, protocol: 'TCP' }],
  endpoints: [{ addresses: [ip], nodeName: 'n1', conditions: { ready: true } }],
});

/** The applier's syncs are done (within a deadline: a sync failing again and again never settles). */
async function settled(a: ProxyApplier, ms = 30_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled in ${ms} ms: ${a.lastError?.message}`)), ms);
  });
  try {
    await Promise.race([a.settled(), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Rule handles per `TABLE:CHAIN` in the proxy's tables (a rewritten chain gets new handles). */
type Handles = Map<string, number[]>;
async function ruleHandles(ns: string): Promise<Handles> {
  const r = await execa('nsenter', [`--net=/run/netns/${ns}`, 'nft', '-j', 'list', 'ruleset', 'ip'], {
    timeout: 20_000,
  });
  const out: Handles = new Map();
  for (const item of JSON.parse(r.stdout).nftables)
    if (item.rule && String(item.rule.table).startsWith('skiff-proxy')) {
      const key = `${item.rule.table}:${item.rule.chain}`;
      out.set(key, [...(out.get(key) ?? []), item.rule.handle]);
    }
  return out;
}

/** The proxy's tables in a namespace. */
async function proxyTables(ns: string): Promise<string[]> {
  const r = await execa('nsenter', [`--net=/run/netns/${ns}`, 'nft', 'list', 'tables', 'ip'], { timeout: 20_000 });
  return [...String(r.stdout).matchAll(/^table ip (skiff-proxy\S*)$/gm)].map((m) => m[1]).sort();
}

const SHARDS = 3;
/** The shard table a Service of the test lives in. */
const shardOfSvc = (name: string, shards = SHARDS) => shardTable(shardOf(`default/${name}`, shards));

test('proxy applier: real table, partial syncs, restart adoption', async (t) => {
  const set = await netnsSet('prx', ['node', 'pod'], ['10.244.201.0/24', '10.96.0.0/12']);
  const [nodeNs, podNs] = set.names;
  const inNode = (cmd: string, args: string[]) =>
    execa('nsenter', [`--net=/run/netns/${nodeNs}`, cmd, ...args], { timeout: 20_000, reject: false });
  const inPod = (cmd: string, args: string[]) =>
    execa('nsenter', [`--net=/run/netns/${podNs}`, cmd, ...args], { timeout: 20_000 });
  const appliers: ProxyApplier[] = [];
  let server: ReturnType<typeof execa> | undefined;
  t.after(async () => {
    for (const a of appliers) a.stop();
    server?.kill('SIGKILL');
    await server?.catch(() => {});
    await set.cleanup();
  });

  // veth between the namespaces; the node routes the service range towards the pods (HOST-NOTES).
  await inNode('ip', ['link', 'add', 'vp', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', podNs]);
  for (const args of [
    ['link', 'set', 'lo', 'up'],
    ['link', 'set', 'vp', 'up'],
    ['addr', 'add', '10.244.201.1/24', 'dev', 'vp'],
    ['route', 'add', '10.96.0.0/12', 'dev', 'vp'],
  ])
    assert.equal((await inNode('ip', args)).exitCode, 0);
  for (const args of [
    ['link', 'set', 'lo', 'up'],
    ['link', 'set', 'eth0', 'up'],
    ['addr', 'add', '10.244.201.5/24', 'dev', 'eth0'],
    ['addr', 'add', '10.244.201.6/24', 'dev', 'eth0'],
    ['route', 'add', 'default', 'via', '10.244.201.1'],
  ])
    await inPod('ip', args);
  // A TCP server in the pod answering with the port it was reached on.
  const serverJs =
    `const net=require('net');for(const p of [8080,9090])net.createServer(s=>s.end('port '+p)).listen(p,` +
    `'0.0.0.0');console.log('up')`;
  server = execa('nsenter', [`--net=/run/netns/${podNs}`, process.execPath, '-e', serverJs]);
  await new Promise<void>((resolve) => server?.stdout?.once('data', () => resolve()));

  const connect = async (ip: string, port: number) => {
    const js =
      `const s=require('net').connect(${port},'${ip}');let d='';s.setTimeout(3000,()=>{console.log('timeout');` +
      `process.exit()});s.on('data',x=>d+=x);s.on('end',()=>{console.log(d);process.exit()});s.on('error',` +
      `e=>{console.log(e.code);process.exit()})`;
    const r = await inNode(process.execPath, ['-e', js]);
    return String(r.stdout).trim();
  };

  const source: ProxySource = { services: new Map(), endpointSlices: new Map() };
  const put = (s: Service, sl?: EndpointSlice) => {
    source.services.set(`default/${s.metadata.name}`, s);
    if (sl) source.endpointSlices.set(`default/${sl.metadata.name}`, sl);
  };
  put(svc('web', '10.96.0.20'), slice('web', '10.244.201.5', 8080));
  put(svc('other', '10.96.0.21'), slice('other', '10.244.201.5', 8080));
  put(svc('empty', '10.96.0.30'));
  const sticky = svc('sticky', '10.96.0.22');
  sticky.spec = {
    ...sticky.spec,
    sessionAffinity: 'ClientIP',
    sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } },
  };
  put(sticky, slice('sticky', '10.244.201.5', 8080));
  const real = nftCommand(['nsenter', `--net=/run/netns/${nodeNs}`]);
  const scripts: string[] = [];
  const nft: Nft = {
    apply: (script) => {
      scripts.push(script);
      return real.apply(script);
    },
    readBack: (tables) => real.readBack(tables),
  };
  const results: SyncResult[] = [];
  const applier = new ProxyApplier({
    nft,
    facts: () => facts,
    source: () => source,
    shards: SHARDS,
    onSynced: (r) => results.push(r),
  });
  appliers.push(applier);
  applier.start();
  await settled(applier);
  assert.equal(applier.lastError, undefined);
  assert.equal(results.at(-1)?.full, true);
  // The Services are spread over the shards (else this test would not show several at one hook).
  assert.deepEqual(await proxyTables(nodeNs), ['skiff-proxy', ...[0, 1, 2].map((i) => shardTable(i))]);
  assert.notEqual(shardOfSvc('web'), shardOfSvc('other'));

  assert.equal(await connect('10.96.0.20', 80), 'port 8080');
  assert.equal(await connect('10.96.0.21', 80), 'port 8080');
  // No endpoints: refused at once, not a timeout; an unallocated service IP likewise.
  assert.equal(await connect('10.96.0.30', 80), 'ECONNREFUSED');
  assert.equal(await connect('10.96.0.99', 80), 'ECONNREFUSED');

  // One endpoint changes: one partial sync, only that Service's chains rewritten, with commands
  // for which nft reads only the list of tables from the kernel (see docs/proxy.md).
  const before = await ruleHandles(nodeNs);
  const sent = scripts.length;
  source.endpointSlices.set('default/other-x', slice('other', '10.244.201.5', 9090));
  applier.slicesChanged(['default/other-x']);
  await settled(applier);
  const partial = results.at(-1) as SyncResult;
  assert.equal(partial.full, false);
  assert.deepEqual(partial.keys, ['default/other']);
  assert.equal(await connect('10.96.0.21', 80), 'port 9090');
  assert.equal(await connect('10.96.0.20', 80), 'port 8080');
  const after = await ruleHandles(nodeNs);
  const changed = [...new Set([...before.keys(), ...after.keys()])].filter(
    (c) => JSON.stringify(before.get(c)) !== JSON.stringify(after.get(c)),
  );
  // The service chain alone, now naming the new endpoint map (the old map is deleted a second
  // later): in the Service's shard, the one table touched.
  const own = shardOfSvc('other');
  assert.deepEqual(changed.sort(), [`${own}:svc-default/other/tcp/80`]);
  assert.equal(scripts.length, sent + 1);
  const tablesIn = (script: string) => [...new Set([...script.matchAll(/^\w+ \w+ ip (\S+)/gm)].map((m) => m[1]))];
  assert.deepEqual(tablesIn(scripts.at(-1) as string), [own]);
  const costly = (scripts.at(-1) as string)
    .trim()
    .split('\n')
    .filter((l) => !/^(add chain|flush chain|add map|add set) /.test(l));
  assert.deepEqual(costly, []);
  // With session affinity the rewritten chains name the endpoints' affinity sets, declared again
  // (unchanged, their clients kept) in the same cheap transaction.
  assert.equal(await connect('10.96.0.22', 80), 'port 8080');
  // A second endpoint: the service chain names the first one's affinity set, which exists.
  const two = slice('sticky', '10.244.201.5', 8080);
  two.endpoints = [...two.endpoints, { addresses: ['10.244.201.6'], nodeName: 'n1', conditions: { ready: true } }];
  source.endpointSlices.set('default/sticky-x', two);
  applier.slicesChanged(['default/sticky-x']);
  await settled(applier);
  assert.equal(applier.lastError, undefined);
  assert.equal(results.at(-1)?.full, false);
  assert.deepEqual(
    (scripts.at(-1) as string)
      .trim()
      .split('\n')
      .filter((l) => !/^(add chain|flush chain|add map|add set) /.test(l)),
    [],
  );
  assert.equal(await connect('10.96.0.22', 80), 'port 8080');
  const deadline = Date.now() + 10_000;
  for (;;) {
    const maps = String((await inNode('nft', ['-t', 'list', 'maps', 'ip'])).stdout);
    if (maps.match(/map endpoints-default\/other\//g)?.length === 1 || Date.now() > deadline) {
      assert.equal(maps.match(/map endpoints-default\/other\//g)?.length, 1, 'stale endpoint map deleted');
      // A chain per endpoint only where session affinity needs one.
      const ls = String((await inNode('nft', ['list', 'chains', 'ip'])).stdout);
      assert.ok(ls.includes('ep-default/sticky/tcp/80__10.244.201.6/8080'));
      assert.ok(!/ep-default\/(web|other)\//.test(ls));
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  // The agent restarts: a fresh applier's first (full) sync finds nothing to change.
  applier.stop();
  const handles = await ruleHandles(nodeNs);
  const restarted: SyncResult[] = [];
  const again = new ProxyApplier({
    nft,
    facts: () => facts,
    source: () => source,
    shards: SHARDS,
    minIntervalMs: 200,
    onSynced: (r) => restarted.push(r),
  });
  appliers.push(again);
  again.start();
  await settled(again);
  assert.equal(restarted[0]?.full, true);
  assert.equal(restarted[0]?.lines, 0);
  assert.deepEqual(await ruleHandles(nodeNs), handles);

  // Something removed behind its back is put back by the next full sync, and only that.
  assert.equal(
    (await inNode('nft', ['delete', 'element', 'ip', shardOfSvc('web'), 'service-ips', '{ 10.96.0.20 . tcp . 80 }']))
      .exitCode,
    0,
  );
  assert.equal(await connect('10.96.0.20', 80), 'ECONNREFUSED');
  again.resync();
  await settled(again);
  assert.equal(restarted.at(-1)?.lines, 1);
  assert.equal(await connect('10.96.0.20', 80), 'port 8080');

  // A storm of changes (50 over about half a second) costs a few transactions, not one per change.
  const n = restarted.length;
  for (let i = 0; i < 50; i++) {
    source.endpointSlices.set('default/web-x', slice('web', '10.244.201.5', i % 2 ? 9090 : 8080));
    again.slicesChanged(['default/web-x']);
    await new Promise((r) => setTimeout(r, 10));
  }
  await settled(again);
  assert.ok(restarted.length - n <= 8, `${restarted.length - n} syncs for 50 changes`);
  assert.equal(await connect('10.96.0.20', 80), 'port 9090');

  // Session affinity off and on again: the port moves between a data map and endpoint chains and
  // back, each change one accepted partial sync, the Service answering after each.
  for (const affinity of ['None', 'ClientIP'] as const) {
    const cur = source.services.get('default/sticky') as Service;
    source.services.set('default/sticky', { ...cur, spec: { ...cur.spec, sessionAffinity: affinity } });
    again.servicesChanged(['default/sticky']);
    await settled(again);
    assert.equal(again.lastError, undefined, affinity);
    assert.equal(restarted.at(-1)?.full, false, affinity);
    assert.equal(await connect('10.96.0.22', 80), 'port 8080', affinity);
    const ls = String((await inNode('nft', ['list', 'chains', 'ip'])).stdout);
    if (affinity === 'ClientIP') assert.ok(ls.includes('chain ep-default/sticky/tcp/80__10.244.201.5/8080'));
  }

  // Restarted with fewer shards: the Services move into the remaining tables in one transaction and
  // the extra shard tables go; a further restart with the same number finds nothing to change.
  again.stop();
  await settled(again);
  const restartWith = async (shards: number, cleanup: boolean) => {
    const got: SyncResult[] = [];
    const a = new ProxyApplier({ nft, facts: () => facts, source: () => source, shards, onSynced: (r) => got.push(r) });
    appliers.push(a);
    a.start();
    await settled(a);
    // The chains the Services left behind go with the cleanup, a second later.
    const until = Date.now() + 10_000;
    while (cleanup && !got.some((r) => !r.full && r.keys.length === 0) && Date.now() < until)
      await new Promise((r) => setTimeout(r, 50));
    a.stop();
    assert.equal(a.lastError, undefined);
    return got;
  };
  const moved = await restartWith(2, true);
  assert.ok(moved[0].full && moved[0].lines > 0);
  assert.deepEqual(await proxyTables(nodeNs), ['skiff-proxy', shardTable(0), shardTable(1)]);
  assert.equal(await connect('10.96.0.20', 80), 'port 9090');
  assert.equal(await connect('10.96.0.21', 80), 'port 9090');
  assert.equal(await connect('10.96.0.22', 80), 'port 8080');
  assert.equal(await connect('10.96.0.30', 80), 'ECONNREFUSED');
  const handles2 = await ruleHandles(nodeNs);
  const same = await restartWith(2, false);
  assert.equal(same[0].lines, 0);
  assert.deepEqual(await ruleHandles(nodeNs), handles2);
  // And with more: the dispatch's new `to-shard-` chains come in the transaction that points the
  // dispatch maps at them.
  const grown = await restartWith(5, true);
  assert.ok(grown[0].full && grown[0].lines > 0);
  assert.deepEqual(await proxyTables(nodeNs), ['skiff-proxy', ...[0, 1, 2, 3, 4].map((i) => shardTable(i))]);
  assert.equal(await connect('10.96.0.20', 80), 'port 9090');
  assert.equal(await connect('10.96.0.21', 80), 'port 9090');
  assert.equal(await connect('10.96.0.22', 80), 'port 8080');
  assert.equal(await connect('10.96.0.30', 80), 'ECONNREFUSED');
  const dispatch = String((await inNode('nft', ['list', 'map', 'ip', TABLE, 'shard-ips'])).stdout);
  for (const ip of ['10.96.0.20', '10.96.0.21', '10.96.0.22'])
    assert.match(dispatch, new RegExp(`${ip.replaceAll('.', '\\.')} \\. tcp \\. 80 : goto to-shard-[0-4]`));
  assert.doesNotMatch(dispatch, /10\.96\.0\.30/); // no endpoints: in no shard
  assert.equal((await restartWith(5, false))[0].lines, 0);
});

// The sharded layout relies on this: with several nat base chains at one hook, the kernel stops at
// the first one that sets up a NAT binding for the connection (nf_nat_inet_fn), and a connection
// the first one does not take still reaches the next.
test('kernel: of several nat chains at one hook, the first to DNAT wins and the later ones do not run', async (t) => {
  const set = await netnsSet('prxn', ['node', 'pod'], ['10.244.201.0/24', '10.96.0.0/12']);
  const [nodeNs, podNs] = set.names;
  const inNode = (cmd: string, args: string[], input?: string) =>
    execa('nsenter', [`--net=/run/netns/${nodeNs}`, cmd, ...args], { input, timeout: 20_000 });
  const inPod = (cmd: string, args: string[]) =>
    execa('nsenter', [`--net=/run/netns/${podNs}`, cmd, ...args], { timeout: 20_000 });
  let server: ReturnType<typeof execa> | undefined;
  t.after(async () => {
    server?.kill('SIGKILL');
    await server?.catch(() => {});
    await set.cleanup();
  });
  await inNode('ip', ['link', 'add', 'vp', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', podNs]);
  for (const args of [
    ['link', 'set', 'lo', 'up'],
    ['link', 'set', 'vp', 'up'],
    ['addr', 'add', '10.244.201.1/24', 'dev', 'vp'],
    ['route', 'add', '10.96.0.0/12', 'dev', 'vp'],
  ])
    await inNode('ip', args);
  for (const args of [
    ['link', 'set', 'lo', 'up'],
    ['link', 'set', 'eth0', 'up'],
    ['addr', 'add', '10.244.201.5/24', 'dev', 'eth0'],
    ['route', 'add', 'default', 'via', '10.244.201.1'],
  ])
    await inPod('ip', args);
  const serverJs =
    `const net=require('net');for(const p of [8080,9090])net.createServer(s=>s.end('port '+p)).listen(p,` +
    `'0.0.0.0');console.log('up')`;
  server = execa('nsenter', [`--net=/run/netns/${podNs}`, process.execPath, '-e', serverJs]);
  await new Promise<void>((resolve) => server?.stdout?.once('data', () => resolve()));
  // Two tables, as two shards: the first takes one address; the second would take any service address.
  await inNode(
    'nft',
    ['-f', '-'],
    'add table ip nat-first\nadd chain ip nat-first out { type nat hook output priority -100 ; policy accept ; ' +
      'ip daddr 10.96.0.77 tcp dport 80 counter dnat to 10.244.201.5:8080 ; }\n' +
      'add table ip nat-second\nadd chain ip nat-second out { type nat hook output priority -99 ; policy accept ; ' +
      'ip daddr 10.96.0.0/12 meta l4proto tcp counter dnat to 10.244.201.5:9090 ; }\n',
  );
  const connect = async (ip: string) => {
    const js =
      `const s=require('net').connect(80,'${ip}');let d='';s.setTimeout(3000,()=>{console.log('timeout');` +
      `process.exit()});s.on('data',x=>d+=x);s.on('end',()=>{console.log(d);process.exit()});s.on('error',` +
      `e=>{console.log(e.code);process.exit()})`;
    return String((await inNode(process.execPath, ['-e', js])).stdout).trim();
  };
  const packets = async (table: string) => {
    const r = await inNode('nft', ['-j', 'list', 'chain', 'ip', table, 'out']);
    const rule = JSON.parse(r.stdout).nftables.find((i: { rule?: unknown }) => i.rule).rule;
    return rule.expr.find((e: { counter?: unknown }) => e.counter).counter.packets as number;
  };
  assert.equal(await connect('10.96.0.77'), 'port 8080');
  assert.equal(await packets('nat-first'), 1);
  // Only the connection's first packet passes the nat hooks; the second chain saw none of it.
  assert.equal(await packets('nat-second'), 0);
  assert.equal(await connect('10.96.0.78'), 'port 9090');
  assert.equal(await packets('nat-second'), 1);
});
