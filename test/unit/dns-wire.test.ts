// Cluster DNS: the hardened query parser as a table of malformed messages, and a fuzz run
// (fixed seed, bounded) of mutated queries through the whole resolver: never a throw, every
// answer well-formed and within the client's size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { parseQuery, RCODE, encodeName } from '../../agent/dns/wire.ts';
import { Resolver } from '../../agent/dns/resolver.ts';
import { DnsMetrics } from '../../agent/dns/metrics.ts';
import { renderZone } from '../../agent/dns/zone.ts';

const header = (flags: number, qd: number, an = 0, ns = 0, ar = 0) => {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(0x1234, 0);
  b.writeUInt16BE(flags, 2);
  b.writeUInt16BE(qd, 4);
  b.writeUInt16BE(an, 6);
  b.writeUInt16BE(ns, 8);
  b.writeUInt16BE(ar, 10);
  return b;
};
const tail = (type = 1, klass = 1) => Buffer.from([type >> 8, type & 0xff, klass >> 8, klass & 0xff]);
const label = (n: number) => Buffer.concat([Buffer.from([n]), Buffer.alloc(n, 0x61)]);
const q = (name: Buffer, type = 1, klass = 1, ar: Buffer[] = []) =>
  Buffer.concat([header(0x0100, 1, 0, 0, ar.length), name, tail(type, klass), ...ar]);
const www = encodeName('www.example.com');
const opt = (size: number, version = 0) => Buffer.from([0, 0, 41, size >> 8, size & 0xff, 0, version, 0, 0, 0, 0]);

// message → null (drop) or the rcode of the error answer, or 'ok'.
const cases: [string, Buffer, null | number | 'ok'][] = [
  ['shorter than a header', Buffer.alloc(11), null],
  ['a response (QR set)', Buffer.concat([header(0x8100, 1), www, tail()]), null],
  ['oversized (5000 bytes)', Buffer.concat([q(www), Buffer.alloc(5000)]), null],
  ['opcode STATUS', Buffer.concat([header(0x1000, 1), www, tail()]), RCODE.NOTIMP],
  ['qdcount 0', header(0x0100, 0), RCODE.FORMERR],
  ['qdcount 2', Buffer.concat([header(0x0100, 2), www, tail(), www, tail()]), RCODE.FORMERR],
  ['answers in a query', Buffer.concat([header(0x0100, 1, 1), www, tail()]), RCODE.FORMERR],
  ['header only, qdcount 1', header(0x0100, 1), RCODE.FORMERR],
  ['question without type and class', Buffer.concat([header(0x0100, 1), www]), RCODE.FORMERR],
  [
    'name without its root label',
    Buffer.concat([header(0x0100, 1), Buffer.from([3, 0x77, 0x77, 0x77])]),
    RCODE.FORMERR,
  ],
  ['label of 63', q(Buffer.concat([label(63), Buffer.from([0])])), 'ok'],
  ['label of 64 (reserved label type)', q(Buffer.concat([label(64), Buffer.from([0])])), RCODE.FORMERR],
  ['label type 0x80', q(Buffer.from([0x80, 0])), RCODE.FORMERR],
  ['name of 255', q(Buffer.concat([label(63), label(63), label(63), label(61), Buffer.from([0])])), 'ok'],
  ['name of 256', q(Buffer.concat([label(63), label(63), label(63), label(62), Buffer.from([0])])), RCODE.FORMERR],
  ['pointer in the question', q(Buffer.from([0xc0, 0x0c])), RCODE.FORMERR],
  [
    'compression loop in an additional record',
    Buffer.concat([
      header(0x0100, 1, 0, 0, 1),
      www,
      tail(),
      Buffer.from([0xc0, 12 + www.length + 4]),
      tail(41, 512),
      Buffer.alloc(6),
    ]),
    RCODE.FORMERR,
  ],
  [
    'pointer forward in an additional record',
    Buffer.concat([header(0x0100, 1, 0, 0, 1), www, tail(), Buffer.from([0xc0, 0xff]), tail(16), Buffer.alloc(6)]),
    RCODE.FORMERR,
  ],
  [
    'additional record cut short',
    Buffer.concat([header(0x0100, 1, 0, 0, 1), www, tail(), Buffer.from([0, 0, 41])]),
    RCODE.FORMERR,
  ],
  ['two OPT records', q(www, 1, 1, [opt(1232), opt(1232)]), RCODE.FORMERR],
  ['OPT with an owner name', q(www, 1, 1, [Buffer.concat([Buffer.from([1, 0x61]), opt(512)])]), RCODE.FORMERR],
  ['class 2 (unassigned)', q(www, 1, 2), RCODE.NOTIMP],
  ['class 0', q(www, 1, 0), RCODE.FORMERR],
  ['class CH', q(www, 16, 3), RCODE.REFUSED],
  ['AXFR', q(www, 252), RCODE.REFUSED],
  ['OPT as question type', q(www, 41), RCODE.REFUSED],
  ['class ANY', q(www, 1, 255), 'ok'],
  ['EDNS', q(www, 1, 1, [opt(4096)]), 'ok'],
];

for (const [name, msg, want] of cases) {
  test(`dns wire: ${name} → ${want === null ? 'drop' : want === 'ok' ? 'parsed' : `rcode ${want}`}`, () => {
    const p = parseQuery(msg);
    if (want === null) assert.equal(p, null);
    else if (want === 'ok') assert.equal(p?.ok, true);
    else {
      assert.ok(p && !p.ok, 'an error answer');
      assert.equal(p.rcode, want);
      assert.equal(p.id, 0x1234);
    }
  });
}

test('dns wire: EDNS sizes below 512 count as 512, and the parsed name is lower-cased with escapes', () => {
  const p = parseQuery(q(encodeName('WwW.Ex\\.ample.com'), 1, 1, [opt(100)]));
  assert.ok(p?.ok);
  assert.equal(p.query.edns?.size, 512);
  assert.equal(p.query.name, 'www.ex\\.ample.com');
  assert.deepEqual(encodeName('ex\\.ample'), Buffer.from([8, ...Buffer.from('ex.ample'), 0]));
});

test('dns wire: a name read from the wire encodes back to the same labels, whatever bytes they hold', () => {
  // Labels ending in a backslash, holding dots, or both: `a\\` then `b` must stay two labels.
  const fixed = [
    ['a\\', 'b'],
    ['\\', '.'],
    ['a.\\', '\\.'],
    ['\\\\', 'x'],
  ].map((ls) => ls.map((l) => Buffer.from(l, 'latin1')));
  const rand = prng(0xd07);
  const random = Array.from({ length: 2000 }, () =>
    Array.from({ length: 1 + Math.floor(rand() * 4) }, () =>
      Buffer.from(
        Array.from(
          { length: 1 + Math.floor(rand() * 6) },
          () => [0x2e, 0x5c, 0x61, 0x00, 0xff][Math.floor(rand() * 5)],
        ),
      ),
    ),
  );
  for (const labels of [...fixed, ...random]) {
    const wire = Buffer.concat([...labels.flatMap((l) => [Buffer.from([l.length]), l]), Buffer.from([0])]);
    const p = parseQuery(q(wire));
    assert.ok(p?.ok, `parsed ${wire.toString('hex')}`);
    assert.deepEqual(encodeName(p.query.name), wire, `round trip of ${JSON.stringify(p.query.name)}`);
  }
});

/** mulberry32: a small seeded PRNG so the fuzz run is the same every time. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('dns wire: fuzzing 30000 mutated queries through the resolver never throws and every answer is sound', () => {
  const zone = renderZone(
    {
      services: [
        {
          metadata: { name: 'web', namespace: 'app' },
          spec: { clusterIP: '10.96.1.1', ports: [{ name: 'http', port: 80 }] },
        },
      ],
      endpointSlices: [],
    },
    { domain: 'cluster.local', ttl: 5, dnsIP: '10.96.0.10', serial: 1 },
  );
  const resolver = new Resolver('cluster.local', new DnsMetrics(), null);
  resolver.zone = zone;
  const seeds = [
    dnsPacket.encode({
      type: 'query',
      id: 1,
      flags: 256,
      questions: [{ name: 'web.app.svc.cluster.local', type: 'A' }],
    }),
    dnsPacket.encode({
      type: 'query',
      id: 2,
      questions: [{ name: '_http._tcp.web.app.svc.cluster.local', type: 'SRV' }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as unknown as dnsPacket.Answer],
    }),
    dnsPacket.encode({ type: 'query', id: 3, questions: [{ name: '1.1.96.10.in-addr.arpa', type: 'PTR' }] }),
    dnsPacket.encode({ type: 'query', id: 4, questions: [{ name: 'nosuch.cluster.local', type: 'AAAA' }] }),
  ];
  const rand = prng(0x5eed);
  const int = (n: number) => Math.floor(rand() * n);
  let answered = 0;
  for (let i = 0; i < 30000; i++) {
    let m = Buffer.from(seeds[int(seeds.length)]);
    const edits = 1 + int(4);
    for (let e = 0; e < edits; e++) {
      const op = int(5);
      if (op === 0 && m.length) m[int(m.length)] = int(256);
      else if (op === 1) m = m.subarray(0, int(m.length + 1));
      else if (op === 2)
        m = Buffer.concat([
          m.subarray(0, int(m.length)),
          Buffer.from([0xc0 | int(64), int(256)]),
          m.subarray(int(m.length)),
        ]);
      else if (op === 3 && m.length >= 12) m.writeUInt16BE(int(4), 4 + 2 * int(4));
      else m = Buffer.concat([m, Buffer.from(Array.from({ length: int(40) }, () => int(256)))]);
    }
    const tcp = rand() < 0.3;
    const p = parseQuery(m); // the parser alone must not throw either
    const res = resolver.handle(m, tcp);
    assert.ok(!(res instanceof Promise), 'no forwarder: every answer is synchronous');
    if (!res) continue;
    answered++;
    assert.equal(res.readUInt16BE(0), m.readUInt16BE(0), 'the answer carries the query ID');
    assert.ok(res[2] & 0x80, 'QR set');
    const limit = tcp ? 65535 : p?.ok && p.query.edns ? Math.min(p.query.edns.size, 4096) : 512;
    assert.ok(res.length <= limit, `answer of ${res.length} within ${limit}`);
    assert.doesNotThrow(() => dnsPacket.decode(res), 'the answer decodes');
  }
  assert.ok(answered > 10000, `most mutations still get an answer (${answered})`);
});
