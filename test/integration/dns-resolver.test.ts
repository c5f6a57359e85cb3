// Cluster DNS resolver on real sockets (127.0.0.x loopback ports) with a real upstream: dnsmasq
// serving example names from a hosts file, next to a silent "upstream" that never answers.
// Covers UDP and TCP answers, EDNS sizes and truncation, malformed input, forwarding with
// failover, the cache, TCP retry of truncated upstream answers, ExternalName chasing, SERVFAIL
// on timeouts and the in-flight bound.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { connect, createServer, type Socket as TcpSocket } from 'node:net';
import dnsPacket from 'dns-packet';
import { DnsServer } from '../../agent/dns/server.ts';
import { Resolver } from '../../agent/dns/resolver.ts';
import { Forwarder } from '../../agent/dns/forwarder.ts';
import { DnsMetrics } from '../../agent/dns/metrics.ts';
import { renderZone } from '../../agent/dns/zone.ts';
import { query, rcodeOf, startDnsmasq, tcpExchange, udpExchange, type Dnsmasq } from '../helpers/dns.ts';

const HOST = '127.0.0.70';
let dnsmasq: Dnsmasq;
let silent: Socket;
let server: DnsServer;
let forwarder: Forwarder;
const metrics = new DnsMetrics();
const port = 20000 + (process.pid % 20000);

before(async () => {
  dnsmasq = await startDnsmasq({
    host: '127.0.0.71',
    port,
    hosts: Array.from({ length: 100 }, (_, i) => `192.0.2.${i + 1} big.example`),
    records: ['ext.example,192.0.2.7', 'www.example,192.0.2.8'],
  });
  silent = createSocket('udp4');
  await new Promise<void>((r) => silent.bind(port, '127.0.0.72', r));
  forwarder = new Forwarder(
    {
      upstreams: [
        { host: '127.0.0.72', port },
        { host: '127.0.0.71', port },
      ],
      attemptMs: 300,
      deadlineMs: 1500,
    },
    metrics,
  );
  await forwarder.start();
  const resolver = new Resolver('cluster.local', metrics, forwarder);
  resolver.zone = renderZone(
    {
      services: [
        { metadata: { name: 'web', namespace: 'app' }, spec: { clusterIP: '10.96.1.1' } },
        { metadata: { name: 'ext', namespace: 'app' }, spec: { type: 'ExternalName', externalName: 'ext.example' } },
        { metadata: { name: 'many', namespace: 'app' }, spec: { clusterIP: 'None' } },
      ],
      endpointSlices: [
        {
          metadata: { name: 'many-1', namespace: 'app', labels: { 'kubernetes.io/service-name': 'many' } },
          addressType: 'IPv4',
          endpoints: Array.from({ length: 100 }, (_, i) => ({ addresses: [`10.244.7.${i + 1}`] })),
        },
      ],
    },
    { domain: 'cluster.local', ttl: 5, dnsIP: HOST, serial: 1 },
  );
  server = new DnsServer(resolver, metrics, { address: HOST, port: 0 });
  await server.start();
});

after(async () => {
  await server?.stop();
  forwarder?.stop();
  silent?.close();
  await dnsmasq?.stop();
});

const ask = async (name: string, type: dnsPacket.RecordType, edns?: number) => {
  const res = await udpExchange(HOST, server.port, query(name, type, edns));
  assert.ok(res, `an answer for ${name}`);
  return dnsPacket.decode(res);
};

test('dns resolver: cluster names over UDP and TCP, several queries on one TCP connection', async () => {
  const a = await ask('WEB.app.svc.cluster.local', 'A');
  assert.equal(rcodeOf(a), 'NOERROR');
  assert.deepEqual(
    a.answers?.map((x) => x.type === 'A' && x.data),
    ['10.96.1.1'],
  );
  const answers = await tcpExchange(HOST, server.port, [
    query('web.app.svc.cluster.local', 'A', undefined, 1),
    query('nosuch.app.svc.cluster.local', 'A', undefined, 2),
  ]);
  const byId = new Map(answers.map((b) => [b.readUInt16BE(0), dnsPacket.decode(b)]));
  assert.equal(rcodeOf(byId.get(1) as dnsPacket.DecodedPacket), 'NOERROR');
  assert.equal(rcodeOf(byId.get(2) as dnsPacket.DecodedPacket), 'NXDOMAIN');
});

test(
  'dns resolver: 100 endpoints are truncated over UDP (512 and EDNS 1232), ' + 'whole with EDNS 4096 and over TCP',
  async () => {
    for (const edns of [undefined, 1232]) {
      const r = await ask('many.app.svc.cluster.local', 'A', edns);
      assert.equal(r.flag_tc, true, `TC with ${edns ?? 512}`);
      assert.equal(r.answers?.length, 0);
    }
    const big = await ask('many.app.svc.cluster.local', 'A', 4096);
    assert.equal(big.flag_tc, false);
    assert.equal(big.answers?.length, 100);
    const [tcp] = await tcpExchange(HOST, server.port, [query('many.app.svc.cluster.local', 'A')]);
    assert.equal(dnsPacket.decode(tcp).answers?.length, 100);
    const opt = big.additionals?.find((x) => x.type === 'OPT');
    assert.equal(opt && 'udpPayloadSize' in opt && opt.udpPayloadSize, 1232, 'our own buffer size is advertised');
  },
);

test('dns resolver: garbage gets FORMERR or nothing, and the server keeps answering', async () => {
  const formerr = await udpExchange(HOST, server.port, Buffer.from([0, 7, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
  assert.ok(formerr);
  assert.equal(formerr[3] & 0xf, 1);
  assert.equal(await udpExchange(HOST, server.port, Buffer.from([1, 2, 3]), 300), null);
  const tooShortFrame = await tcpExchange(HOST, server.port, [Buffer.from([1, 2, 3])]);
  assert.deepEqual(tooShortFrame, [], 'a TCP frame that cannot be a query closes the connection');
  assert.equal(rcodeOf(await ask('web.app.svc.cluster.local', 'A')), 'NOERROR');
});

test('dns resolver: outside names go to the upstream that answers, then come from the cache', async () => {
  const t0 = performance.now();
  const first = await ask('www.example', 'A');
  assert.equal(rcodeOf(first), 'NOERROR');
  assert.deepEqual(
    first.answers?.map((x) => x.type === 'A' && x.data),
    ['192.0.2.8'],
  );
  assert.ok(performance.now() - t0 >= 250, 'the silent upstream was tried first and timed out');
  const hits = metrics.cacheHits.get();
  const t1 = performance.now();
  const again = await ask('WWW.example', 'A');
  assert.equal(again.questions?.[0].name, 'WWW.example', 'the client gets its own question back');
  assert.ok(performance.now() - t1 < 100, 'answered from the cache');
  assert.equal(metrics.cacheHits.get(), hits + 1);
  assert.equal(dnsmasq.queries().filter((q) => q === 'www.example').length, 1, 'the upstream was asked once');
  // The upstream that answered is now asked first.
  const t2 = performance.now();
  assert.equal(rcodeOf(await ask('ext.example', 'A')), 'NOERROR');
  assert.ok(performance.now() - t2 < 250, 'no detour through the silent upstream');
  assert.equal(rcodeOf(await ask('nope.example', 'A')), 'NXDOMAIN');
});

test('dns resolver: a truncated upstream answer is fetched again over TCP', async () => {
  const [tcp] = await tcpExchange(HOST, server.port, [query('big.example', 'A')]);
  const r = dnsPacket.decode(tcp);
  assert.equal(r.flag_tc, false);
  assert.equal(r.answers?.length, 100);
  const udp = await ask('big.example', 'A');
  assert.equal(udp.flag_tc, true, 'too big for the client over UDP: TC so it retries over TCP');
});

test('dns resolver: an upstream TCP answer shorter than a header is a failed attempt, not a crash', async () => {
  // The upstream sets TC over UDP, then answers the TCP retry with a 0- or 1-byte message.
  const host = '127.0.0.73';
  const udpUp = createSocket('udp4');
  udpUp.on('message', (m, r) => {
    const res = Buffer.from(m.subarray(0, 12));
    res.writeUInt16BE(0x8300, 2); // QR, TC, RD
    udpUp.send(res, r.port, r.address);
  });
  await new Promise<void>((r) => udpUp.bind(port, host, r));
  const frames = [Buffer.from([0, 0]), Buffer.from([0, 1, 0x41])];
  const conns = new Set<TcpSocket>();
  let asked = 0;
  const tcpUp = createServer((c) => {
    conns.add(c);
    c.on('error', () => {});
    c.once('data', () => c.write(frames[asked++ % frames.length]));
  });
  await new Promise<void>((r) => tcpUp.listen(port, host, r));
  const f = new Forwarder({ upstreams: [{ host, port }], attemptMs: 300, deadlineMs: 1500 }, new DnsMetrics());
  await f.start();
  try {
    for (const name of ['a.example', 'b.example']) assert.equal(await f.lookup(name, 1), null);
    assert.ok(asked >= 2, `the TCP retry was made (${asked})`);
  } finally {
    f.stop();
    for (const c of conns) c.destroy();
    udpUp.close();
    await new Promise((r) => tcpUp.close(r));
  }
});

test('dns resolver: a TCP client that asks and never reads stops being read', { timeout: 60_000 }, async () => {
  // Without backpressure the server reads every query and keeps every answer in memory.
  const q = query('web.app.svc.cluster.local', 'A');
  const frame = Buffer.concat([Buffer.from([0, q.length]), q]);
  const block = Buffer.concat(Array.from({ length: Math.floor(65536 / frame.length) }, () => frame));
  const c = connect({ host: HOST, port: server.port });
  c.on('error', () => {});
  c.pause(); // never reads
  await new Promise((r) => c.once('connect', r));
  const total = 48 * 1024 * 1024;
  let sent = 0;
  const end = Date.now() + 15_000;
  while (sent < total && Date.now() < end && !c.destroyed) {
    if (!c.write(block)) {
      const drained = await new Promise<boolean>((r) => {
        const t = setTimeout(() => r(false), 2000);
        c.once('drain', () => {
          clearTimeout(t);
          r(true);
        });
      });
      if (!drained) break;
    }
    sent += block.length;
  }
  const accepted = c.bytesWritten - c.writableLength;
  c.destroy();
  assert.ok(accepted < 24 * 1024 * 1024, `the server took ${(accepted / 2 ** 20).toFixed(1)} MiB of queries unread`);
  const r = await ask('web.app.svc.cluster.local', 'A');
  assert.deepEqual(
    r.answers?.map((a) => (a.type === 'A' ? a.data : a.type)),
    ['10.96.1.1'],
    'others are still answered',
  );
});

test('dns resolver: ExternalName is a CNAME with the target chased upstream', async () => {
  const r = await ask('ext.app.svc.cluster.local', 'A');
  assert.equal(rcodeOf(r), 'NOERROR');
  assert.deepEqual(
    r.answers?.map((x) => `${x.name} ${x.type} ${'data' in x ? x.data : ''}`),
    ['ext.app.svc.cluster.local CNAME ext.example', 'ext.example A 192.0.2.7'],
  );
});

test(
  'dns resolver: upstreams that do not answer give SERVFAIL within the deadline; ' + 'in-flight queries are bounded',
  async () => {
    const lone = new Forwarder(
      { upstreams: [{ host: '127.0.0.72', port }], attemptMs: 300, deadlineMs: 800, maxInFlight: 2 },
      metrics,
    );
    await lone.start();
    const resolver = new Resolver('cluster.local', metrics, lone);
    const s = new DnsServer(resolver, metrics, { address: '127.0.0.73', port: 0 });
    await s.start();
    try {
      const t0 = performance.now();
      const answers = await Promise.all(
        ['a', 'b', 'c', 'd'].map((n) => udpExchange('127.0.0.73', s.port, query(`${n}.example`, 'A'), 3000)),
      );
      const took = performance.now() - t0;
      for (const a of answers) {
        assert.ok(a);
        assert.equal(a[3] & 0xf, 2, 'SERVFAIL');
      }
      assert.ok(took < 1300, `all answered within the deadline (${Math.round(took)} ms)`);
      assert.ok(
        metrics.dropped.get({ reason: 'in_flight_limit' }) >= 2,
        'two were refused at once by the in-flight bound',
      );
    } finally {
      await s.stop();
      lone.stop();
    }
  },
);

test('dns resolver: metrics count queries by type and rcode', () => {
  assert.ok(metrics.queries.get({ type: 'A', rcode: 'NOERROR' }) > 0);
  assert.ok(metrics.queries.get({ type: 'A', rcode: 'NXDOMAIN' }) > 0);
  assert.ok(metrics.cacheMisses.get() > 0);
});
