// Cluster DNS forwarding (pure parts): cache lifetimes (TTL cap, negative TTL from the SOA per
// RFC 2308, no negative caching without one), aging of TTLs on hits, the size bound, and the
// upstream list from --dns-upstream or resolv.conf.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { DnsCache, fromEntry, toEntry } from '../../agent/dns/cache.ts';
import { parseUpstreams, upstreamsFromResolvConf } from '../../agent/dns/upstreams.ts';
import { parseQuery } from '../../agent/dns/wire.ts';
import { query } from '../helpers/dns.ts';

const limits = { maxTtl: 300, maxNegativeTtl: 60, maxEntries: 3, maxBytes: 1 << 20 };
const response = (rcode: string, answers: dnsPacket.Answer[], authorities: dnsPacket.Answer[] = []) =>
  dnsPacket.encode({
    type: 'response',
    id: 9,
    flags: dnsPacket.RECURSION_AVAILABLE | dnsPacket.RECURSION_DESIRED | ({ NXDOMAIN: 3, NOERROR: 0 }[rcode] ?? 0),
    questions: [{ name: 'www.example', type: 'A', class: 'IN' }],
    answers,
    authorities,
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as unknown as dnsPacket.Answer],
  });
const soa = (ttl: number, minimum: number): dnsPacket.Answer => ({
  type: 'SOA',
  name: 'example',
  ttl,
  data: { mname: 'ns.example', rname: 'h.example', serial: 1, refresh: 1, retry: 1, expire: 1, minimum },
});
const a = (ttl: number, ip = '192.0.2.1'): dnsPacket.Answer => ({ type: 'A', name: 'www.example', ttl, data: ip });

const lifetimes: [string, Buffer, number][] = [
  ['positive: the smallest answer TTL', response('NOERROR', [a(30), a(20, '192.0.2.2')]), 20_000],
  ['positive: capped', response('NOERROR', [a(86400)]), 300_000],
  ['positive TTL 0: not cached', response('NOERROR', [a(0)]), 0],
  ['NXDOMAIN: min(SOA TTL, SOA minimum)', response('NXDOMAIN', [], [soa(900, 45)]), 45_000],
  ['NODATA: SOA TTL when smaller', response('NOERROR', [], [soa(10, 45)]), 10_000],
  ['NXDOMAIN: negative cap', response('NXDOMAIN', [], [soa(3600, 3600)]), 60_000],
  ['NXDOMAIN without SOA: not cached', response('NXDOMAIN', []), 0],
];
for (const [name, res, ms] of lifetimes)
  test(`dns cache: ${name} → ${ms} ms`, () => {
    const e = toEntry(res, 'www.example', 1, limits, 1000);
    assert.ok(e);
    assert.equal(e.lifetimeMs, ms);
  });

test('dns cache: an answer to another question is refused', () => {
  assert.equal(toEntry(response('NOERROR', [a(30)]), 'other.example', 1, limits, 0), null);
  assert.equal(toEntry(response('NOERROR', [a(30)]), 'www.example', 28, limits, 0), null);
  assert.equal(toEntry(response('NOERROR', [a(30)]).subarray(0, 40), 'www.example', 1, limits, 0), null);
});

test('dns cache: a hit carries the client ID and question, aged TTLs, no upstream OPT, ours only with EDNS', () => {
  const made = toEntry(response('NOERROR', [a(30)]), 'www.example', 1, limits, 1000);
  assert.ok(made);
  const p = parseQuery(query('WWW.Example', 'A', undefined, 77));
  assert.ok(p?.ok);
  const out = dnsPacket.decode(fromEntry(made.entry, p.query, 512, 11_500));
  assert.equal(out.id, 77);
  assert.equal(out.questions?.[0].name, 'WWW.Example');
  assert.equal(out.answers?.[0].type === 'A' && out.answers[0].ttl, 20);
  assert.equal(out.additionals?.length, 0);
  const pe = parseQuery(query('www.example', 'A', 1232));
  assert.ok(pe?.ok);
  const withOpt = dnsPacket.decode(fromEntry(made.entry, pe.query, 1232, 1000));
  assert.equal(withOpt.additionals?.[0].type, 'OPT');
});

test('dns cache: bounded by entries, least recently used out first; expired entries are gone', () => {
  const c = new DnsCache(limits);
  const made = toEntry(response('NOERROR', [a(30)]), 'www.example', 1, limits, 0);
  assert.ok(made);
  for (const k of ['a', 'b', 'c']) c.set(k, made.entry);
  c.get('a', 1);
  c.set('d', made.entry);
  assert.equal(c.size, 3);
  assert.equal(c.get('b', 1), undefined, 'b was least recently used');
  assert.ok(c.get('a', 1));
  assert.equal(c.get('a', 30_000), undefined, 'expired');
});

test('dns upstreams: flag list and resolv.conf without loopback stubs or the cluster DNS itself', () => {
  assert.deepEqual(parseUpstreams('10.0.0.2, 10.0.0.3:5353,[fd00::1]:53'), [
    { host: '10.0.0.2', port: 53 },
    { host: '10.0.0.3', port: 5353 },
    { host: 'fd00::1', port: 53 },
  ]);
  assert.throws(() => parseUpstreams('dns.example'), /not an address/);
  assert.throws(() => parseUpstreams('10.0.0.1:99999'), /not an address/);
  const conf =
    '# x\nnameserver 127.0.0.53\nnameserver 10.96.0.10\nnameserver 192.168.1.1\nnameserver ::1\nsearch a b\n';
  assert.deepEqual(upstreamsFromResolvConf(conf, '10.96.0.10'), [{ host: '192.168.1.1', port: 53 }]);
});
