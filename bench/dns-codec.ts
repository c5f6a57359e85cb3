// Per-query cost of parsing a query for one A record and building its answer: dns2 (if a copy is
// given: DNS2=/path/to/node_modules/dns2, not a dependency of Skiff), dns-packet decode + encode,
// and Skiff's path (parseQuery + lookup + the pre-encoded set copied). Usage: node bench/dns-codec.ts [N]
import { createRequire } from 'node:module';
import dnsPacket from 'dns-packet';
import { parseQuery } from '../agent/dns/wire.ts';
import { renderZone } from '../agent/dns/zone.ts';
import { lookup } from '../agent/dns/lookup.ts';
import { zoneResponse } from '../agent/dns/answer.ts';

const N = Number(process.argv[2] ?? 100_000);
const name = 'web.default.svc.cluster.local';
const q = dnsPacket.encode({
  type: 'query',
  id: 1,
  flags: dnsPacket.RECURSION_DESIRED,
  questions: [{ name, type: 'A' }],
});
const zone = renderZone(
  {
    services: [{ metadata: { name: 'web', namespace: 'default' }, spec: { clusterIP: '10.96.1.1' } }],
    endpointSlices: [],
  },
  { domain: 'cluster.local', ttl: 5, dnsIP: '10.96.0.10', serial: 1 },
);

function bench(label: string, fn: () => unknown) {
  for (let i = 0; i < Math.min(N, 20_000); i++) fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn();
  const us = Number(process.hrtime.bigint() - t0) / N / 1000;
  console.log(`| ${label} | ${us.toFixed(2)} | ${Math.round(1e6 / us)} |`);
}

console.log('| path | µs per query | per second |\n| --- | --- | --- |');
if (process.env.DNS2) {
  // biome-ignore lint/suspicious/noExplicitAny: dns2 is not a dependency; loaded from the path given
  const { Packet } = createRequire(import.meta.url)(process.env.DNS2) as any;
  const version = createRequire(import.meta.url)(`${process.env.DNS2}/package.json`).version;
  bench(`dns2 ${version} Packet.parse + createResponseFromRequest + toBuffer`, () => {
    const req = Packet.parse(q);
    const res = Packet.createResponseFromRequest(req);
    res.answers.push({ name, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl: 5, address: '10.96.1.1' });
    return res.toBuffer();
  });
}
bench('dns-packet decode + encode', () => {
  const req = dnsPacket.decode(q);
  return dnsPacket.encode({
    type: 'response',
    id: req.id,
    flags: 0x8580,
    questions: req.questions,
    answers: [{ name, type: 'A', ttl: 5, data: '10.96.1.1' }],
  });
});
bench('skiff: parseQuery + lookup + pre-encoded copy', () => {
  const p = parseQuery(q);
  if (!p?.ok) throw new Error('unparsable');
  return zoneResponse(p.query, zone, lookup(zone, p.query.name, p.query.type), 512);
});
