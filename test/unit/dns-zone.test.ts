// Cluster DNS: zone rendering and the answer rules as question/answer tables. Each question is
// encoded as a real query, answered from the rendered zone and decoded with dns-packet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import type { EndpointSlice, Service } from '../../controlplane/shared/kube/index.ts';
import { renderZone, reverseName, ZoneRenderer } from '../../agent/dns/zone.ts';
import { lookup } from '../../agent/dns/lookup.ts';
import { zoneResponse, udpLimit } from '../../agent/dns/answer.ts';
import { parseQuery, TYPE } from '../../agent/dns/wire.ts';

const svc = (ns: string, name: string, spec: Service['spec'], annotations?: Record<string, string>): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: ns, annotations },
  spec,
});
const slice = (
  ns: string,
  service: string,
  name: string,
  endpoints: EndpointSlice['endpoints'],
  ports = [{ name: 'http', port: 8080, protocol: 'TCP' as const }],
): EndpointSlice => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': service } },
  addressType: 'IPv4',
  endpoints,
  ports,
});

const services = [
  svc('default', 'kubernetes', { clusterIP: '10.96.0.1', ports: [{ name: 'https', port: 443, protocol: 'TCP' }] }),
  svc('kube-system', 'kube-dns', {
    clusterIP: '10.96.0.10',
    ports: [
      { name: 'dns', port: 53, protocol: 'UDP' },
      { name: 'dns-tcp', port: 53, protocol: 'TCP' },
    ],
  }),
  svc('App', 'Web', { clusterIP: '10.96.5.5', ports: [{ port: 80 }, { name: 'metrics', port: 9090 }] }),
  svc('app', 'db', { clusterIP: 'None', ports: [{ name: 'sql', port: 5432 }] }),
  svc('app', 'empty', { clusterIP: 'None' }),
  svc('app', 'unready', { clusterIP: 'None' }),
  svc('app', 'tolerant', { clusterIP: 'None', publishNotReadyAddresses: true }),
  svc('app', 'ext', { type: 'ExternalName', externalName: 'Example.COM.' }),
  svc('app', 'pending', { clusterIP: '' }),
  svc('v6', 'dual', { clusterIP: '10.96.7.7', clusterIPs: ['10.96.7.7', 'fd00::7'] }),
];
const slices = [
  slice(
    'app',
    'db',
    'db-a',
    [
      { addresses: ['10.244.1.10'], hostname: 'db-0', conditions: { ready: true } },
      { addresses: ['10.244.2.11'], hostname: 'db-1' },
      { addresses: ['10.244.2.12'], conditions: { ready: false } },
    ],
    [{ name: 'sql', port: 5432, protocol: 'TCP' }],
  ),
  slice('app', 'db', 'db-b', [{ addresses: ['10.244.3.13'] }], [{ name: 'sql', port: 5432, protocol: 'TCP' }]),
  slice('app', 'unready', 'u', [{ addresses: ['10.244.1.20'], conditions: { ready: false } }]),
  slice('app', 'tolerant', 't', [{ addresses: ['10.244.1.21'], conditions: { ready: false } }]),
];

const zone = renderZone(
  { services, endpointSlices: slices },
  { domain: 'cluster.local', ttl: 5, dnsIP: '10.96.0.10', serial: 42 },
);

function ask(name: string, type: dnsPacket.RecordType, z = zone) {
  const wire = dnsPacket.encode({
    type: 'query',
    id: 7,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: 'IN' }],
  });
  const parsed = parseQuery(wire);
  assert.ok(parsed?.ok, `query for ${name} parses`);
  const r = lookup(z, parsed.query.name, parsed.query.type);
  if (r.kind === 'forward' || r.kind === 'cname') return { kind: r.kind, r };
  const res = dnsPacket.decode(zoneResponse(parsed.query, z, r, udpLimit(parsed.query)));
  return { kind: r.kind, res };
}

/** dns-packet decodes the rcode but its types do not declare it. */
const rcodeOf = (res: dnsPacket.DecodedPacket) => (res as unknown as { rcode: string }).rcode;
const show = (a: dnsPacket.Answer): string =>
  a.type === 'OPT'
    ? 'OPT'
    : a.type === 'SRV'
      ? `${a.data.priority} ${a.data.port} ${a.data.target}`
      : a.type === 'TXT'
        ? String(a.data)
        : String(a.data);

// name, type → rcode, answers (as strings, sorted), whether the SOA must be in authority.
const table: [string, dnsPacket.RecordType, string, string[], boolean?][] = [
  ['dns-version.cluster.local', 'TXT', 'NOERROR', ['1.1.0']],
  ['kubernetes.default.svc.cluster.local', 'A', 'NOERROR', ['10.96.0.1']],
  ['KUBERNETES.Default.SVC.cluster.LOCAL', 'A', 'NOERROR', ['10.96.0.1']],
  ['kubernetes.default.svc.cluster.local', 'AAAA', 'NOERROR', [], true],
  ['kubernetes.default.svc.cluster.local', 'MX', 'NOERROR', [], true],
  [
    '_https._tcp.kubernetes.default.svc.cluster.local',
    'SRV',
    'NOERROR',
    ['0 443 kubernetes.default.svc.cluster.local'],
  ],
  ['_https._udp.kubernetes.default.svc.cluster.local', 'SRV', 'NXDOMAIN', [], true],
  [
    '_dns._udp.kube-dns.kube-system.svc.cluster.local',
    'SRV',
    'NOERROR',
    ['0 53 kube-dns.kube-system.svc.cluster.local'],
  ],
  [
    '_dns-tcp._tcp.kube-dns.kube-system.svc.cluster.local',
    'SRV',
    'NOERROR',
    ['0 53 kube-dns.kube-system.svc.cluster.local'],
  ],
  ['web.app.svc.cluster.local', 'A', 'NOERROR', ['10.96.5.5']],
  ['_metrics._tcp.web.app.svc.cluster.local', 'SRV', 'NOERROR', ['0 9090 web.app.svc.cluster.local']],
  ['_tcp.web.app.svc.cluster.local', 'SRV', 'NOERROR', [], true], // empty non-terminal
  ['db.app.svc.cluster.local', 'A', 'NOERROR', ['10.244.1.10', '10.244.2.11', '10.244.3.13']],
  ['db-0.db.app.svc.cluster.local', 'A', 'NOERROR', ['10.244.1.10']],
  ['10-244-3-13.db.app.svc.cluster.local', 'A', 'NOERROR', ['10.244.3.13']],
  ['10-244-2-12.db.app.svc.cluster.local', 'A', 'NXDOMAIN', [], true], // not ready
  [
    '_sql._tcp.db.app.svc.cluster.local',
    'SRV',
    'NOERROR',
    [
      '0 5432 10-244-3-13.db.app.svc.cluster.local',
      '0 5432 db-0.db.app.svc.cluster.local',
      '0 5432 db-1.db.app.svc.cluster.local',
    ],
  ],
  ['empty.app.svc.cluster.local', 'A', 'NXDOMAIN', [], true],
  ['unready.app.svc.cluster.local', 'A', 'NXDOMAIN', [], true],
  ['tolerant.app.svc.cluster.local', 'A', 'NOERROR', ['10.244.1.21']],
  ['pending.app.svc.cluster.local', 'A', 'NXDOMAIN', [], true],
  ['ext.app.svc.cluster.local', 'CNAME', 'NOERROR', ['example.com']],
  ['dual.v6.svc.cluster.local', 'AAAA', 'NOERROR', ['fd00::7']],
  ['dual.v6.svc.cluster.local', 'A', 'NOERROR', ['10.96.7.7']],
  ['10-244-1-5.app.pod.cluster.local', 'A', 'NOERROR', ['10.244.1.5']],
  ['10-244-1-5.app.pod.cluster.local', 'AAAA', 'NOERROR', [], true],
  ['10-244-1-256.app.pod.cluster.local', 'A', 'NXDOMAIN', [], true],
  ['pod.cluster.local', 'A', 'NOERROR', [], true],
  ['app.svc.cluster.local', 'A', 'NOERROR', [], true],
  ['svc.cluster.local', 'A', 'NOERROR', [], true],
  ['nosuch.app.svc.cluster.local', 'A', 'NXDOMAIN', [], true],
  ['nosuch.svc.cluster.local', 'A', 'NXDOMAIN', [], true],
  // Search-path expansions of an outside name never leave the node.
  ['example.com.app.svc.cluster.local', 'A', 'NXDOMAIN', [], true],
  ['example.com.svc.cluster.local', 'AAAA', 'NXDOMAIN', [], true],
  ['example.com.cluster.local', 'A', 'NXDOMAIN', [], true],
  ['cluster.local', 'NS', 'NOERROR', ['ns.dns.cluster.local']],
  ['ns.dns.cluster.local', 'A', 'NOERROR', ['10.96.0.10']],
  ['1.0.96.10.in-addr.arpa', 'PTR', 'NOERROR', ['kubernetes.default.svc.cluster.local']],
  ['10.1.244.10.in-addr.arpa', 'PTR', 'NOERROR', ['db-0.db.app.svc.cluster.local']],
  ['13.3.244.10.in-addr.arpa', 'PTR', 'NOERROR', ['10-244-3-13.db.app.svc.cluster.local']],
  ['1.0.96.10.in-addr.arpa', 'A', 'NOERROR', [], true],
];

for (const [name, type, rcode, answers, soa] of table) {
  test(`dns zone: ${name} ${type} → ${rcode} ${answers.join(',') || '(none)'}`, () => {
    const got = ask(name, type);
    assert.ok('res' in got && got.res, `answered from the zone, not ${got.kind}`);
    const res = got.res;
    assert.equal(rcodeOf(res), rcode);
    assert.equal(res.flag_aa, true);
    assert.equal(res.id, 7);
    assert.equal(res.questions?.[0].name, name, 'the question comes back as asked (case kept)');
    assert.deepEqual((res.answers ?? []).map(show).sort(), [...answers].sort());
    for (const a of res.answers ?? []) {
      assert.equal(a.type !== 'OPT' && a.ttl, 5);
      assert.equal(a.name, name);
    }
    const auth = res.authorities ?? [];
    if (soa) {
      assert.equal(auth.length, 1);
      assert.equal(auth[0].type, 'SOA');
      assert.equal(auth[0].name, 'cluster.local');
      assert.equal(auth[0].type === 'SOA' && auth[0].data.minimum, 5);
    } else assert.equal(auth.length, 0);
  });
}

test('dns zone: hostile slices and Services are skipped or left nameless, never a throw', () => {
  // Slices are checked for shape only at the API, and the render runs in the agent's event loop.
  const raw = <T>(x: unknown) => x as T;
  const evilSlice = slice(
    'app',
    'hl',
    'hl-a',
    raw([
      null,
      { addresses: null },
      { addresses: ['10.244.9.1'], hostname: 'has.dot' },
      { addresses: [42, '10.244.9.2'] },
    ]),
    raw([
      null,
      { name: 'big', port: 70000 },
      { name: 'neg', port: -1 },
      { name: 'x'.repeat(70), port: 1 },
      { name: 'ok', port: 80 },
    ]),
  );
  const renderer = new ZoneRenderer();
  const z = renderer.render(
    {
      services: [
        svc('app', 'hl', { clusterIP: 'None' }),
        svc('app', 'broken', raw({ type: 'ExternalName', externalName: 42 })),
        svc('app', 'fine', { clusterIP: '10.96.9.9', ports: raw([null, { name: 'web', port: 80 }]) }),
      ],
      endpointSlices: [evilSlice],
    },
    { domain: 'cluster.local', ttl: 5, dnsIP: '10.96.0.10', serial: 1 },
  );
  const a = ask('hl.app.svc.cluster.local', 'A', z);
  assert.deepEqual(('res' in a && a.res?.answers?.map(show).sort()) || [], ['10.244.9.1', '10.244.9.2']);
  const srv = ask('_ok._tcp.hl.app.svc.cluster.local', 'SRV', z);
  assert.deepEqual(('res' in srv && srv.res?.answers?.map(show).sort()) || [], [
    '0 80 10-244-9-1.hl.app.svc.cluster.local',
    '0 80 10-244-9-2.hl.app.svc.cluster.local',
  ]);
  for (const bad of ['_big._tcp', '_neg._tcp'])
    assert.equal(
      rcodeOf((ask(`${bad}.hl.app.svc.cluster.local`, 'SRV', z) as { res: dnsPacket.DecodedPacket }).res),
      'NXDOMAIN',
    );
  const fine = ask('fine.app.svc.cluster.local', 'A', z);
  assert.deepEqual(('res' in fine && fine.res?.answers?.map(show)) || [], ['10.96.9.9']);
  assert.equal(renderer.problems.length, 1);
  assert.match(renderer.problems[0], /app\/broken/);
});

test('dns zone: an ExternalName whose target has a label over 63 characters gets no names, and is reported', () => {
  const renderer = new ZoneRenderer();
  const z = renderer.render(
    {
      services: [
        svc('app', 'long', { type: 'ExternalName', externalName: `${'a'.repeat(64)}.example.com` }),
        svc('app', 'max', { type: 'ExternalName', externalName: `${'a'.repeat(63)}.example.com` }),
      ],
      endpointSlices: [],
    },
    { domain: 'cluster.local', ttl: 5, dnsIP: '10.96.0.10', serial: 1 },
  );
  assert.equal(lookup(z, 'long.app.svc.cluster.local', TYPE.A).kind, 'nxdomain');
  assert.equal(lookup(z, 'max.app.svc.cluster.local', TYPE.A).kind, 'cname');
  assert.equal(renderer.problems.length, 1);
  assert.match(renderer.problems[0], /app\/long.*not a DNS name/);
});

test('dns zone: ExternalName asks for the target to be chased; outside names and unknown PTRs go upstream', () => {
  const ext = ask('ext.app.svc.cluster.local', 'A');
  assert.equal(ext.kind, 'cname');
  assert.equal('r' in ext && ext.r.kind === 'cname' && ext.r.target, 'example.com');
  assert.equal(ask('example.com', 'A').kind, 'forward');
  assert.equal(ask('9.9.9.9.in-addr.arpa', 'PTR').kind, 'forward');
  assert.equal(ask('cluster.local.example.com', 'A').kind, 'forward');
});

test('dns zone: TTL is configurable and the IPv6 reverse name is nibbles', () => {
  const z = renderZone(
    { services, endpointSlices: slices },
    { domain: 'Corp.Example.', ttl: 30, dnsIP: '10.96.0.10', serial: 1 },
  );
  assert.equal(z.domain, 'corp.example');
  const r = lookup(z, 'web.app.svc.corp.example', TYPE.A);
  assert.equal(r.kind, 'answer');
  const rr = r.kind === 'answer' ? r.set.bytes : Buffer.alloc(0);
  assert.equal(rr.readUInt32BE(6), 30);
  assert.equal(reverseName('fd00::7'), `7.${'0.'.repeat(28)}0.d.f.ip6.arpa`);
  assert.equal(lookup(z, reverseName('fd00::7'), TYPE.PTR).kind, 'answer');
});

test('dns zone: 100 ready endpoints of a headless Service do not fit 512 bytes over UDP', () => {
  const eps = Array.from({ length: 100 }, (_, i) => ({ addresses: [`10.244.9.${i + 1}`] }));
  const z = renderZone(
    { services: [svc('big', 'many', { clusterIP: 'None' })], endpointSlices: [slice('big', 'many', 's', eps)] },
    { domain: 'cluster.local', ttl: 5, dnsIP: '10.96.0.10', serial: 1 },
  );
  const wire = dnsPacket.encode({
    type: 'query',
    id: 1,
    questions: [{ name: 'many.big.svc.cluster.local', type: 'A' }],
  });
  const p = parseQuery(wire);
  assert.ok(p?.ok);
  const r = lookup(z, p.query.name, p.query.type);
  const udp = dnsPacket.decode(zoneResponse(p.query, z, r, udpLimit(p.query)));
  assert.equal(udp.flag_tc, true);
  assert.equal(udp.answers?.length, 0);
  const tcp = dnsPacket.decode(zoneResponse(p.query, z, r, 65535));
  assert.equal(tcp.flag_tc, false);
  assert.equal(tcp.answers?.length, 100);
});

/** A zone as plain data, to compare two renders byte for byte. */
function canonical(z: ReturnType<typeof renderZone>) {
  const names = [...z.names]
    .map(([n, e]) => [n, [...e.sets].map(([t, s]) => [t, s.count, s.bytes.toString('hex')]).sort(), e.cname?.target])
    .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  const reverse = [...z.reverse]
    .map(([n, s]) => [n, s.count, s.bytes.toString('hex')])
    .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  return { names, reverse, soa: z.soa.bytes.toString('hex') };
}

test('dns zone: after any sequence of changes the remembering renderer gives what a fresh render gives', () => {
  let seed = 7;
  const rnd = (n: number) => {
    // An LCG's high bits (its low bits repeat with short periods).
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return Math.floor((seed / 2 ** 31) * n);
  };
  const svcs = new Map<string, Service>();
  const slcs = new Map<string, EndpointSlice>();
  const r = new ZoneRenderer();
  const o = { domain: 'cluster.local', ttl: 5, dnsIP: '10.96.0.10', serial: 1 };
  for (let step = 0; step < 400; step++) {
    const i = rnd(12);
    const ns = `ns${i % 3}`;
    const name = `s${i}`;
    switch (rnd(6)) {
      case 0:
        svcs.delete(`${ns}/${name}`);
        break;
      case 1:
        svcs.set(
          `${ns}/${name}`,
          svc(ns, name, { clusterIP: `10.96.1.${rnd(250) + 1}`, ports: [{ name: 'p', port: 80 }] }),
        );
        break;
      case 2:
        svcs.set(`${ns}/${name}`, svc(ns, name, { clusterIP: 'None', ports: [{ name: 'p', port: 80 }] }));
        break;
      case 3:
        svcs.set(`${ns}/${name}`, svc(ns, name, { type: 'ExternalName', externalName: `x${rnd(3)}.example` }));
        break;
      case 4: {
        const k = `${ns}/${name}-${rnd(2)}`;
        const eps = Array.from({ length: rnd(4) }, () => ({
          addresses: [`10.244.${rnd(3)}.${rnd(20) + 1}`],
          hostname: rnd(2) ? `h${rnd(3)}` : undefined,
          conditions: { ready: rnd(4) > 0 },
        }));
        slcs.set(k, slice(ns, name, k.split('/')[1], eps));
        break;
      }
      default:
        slcs.delete(`${ns}/${name}-${rnd(2)}`);
    }
    const input = { services: [...svcs.values()], endpointSlices: [...slcs.values()] };
    assert.deepEqual(canonical(r.render(input, o)), canonical(renderZone(input, o)), `step ${step}`);
  }
});

test('dns zone: a Service whose objects did not change keeps its encoded names', () => {
  const r = new ZoneRenderer();
  const o = { domain: 'cluster.local', ttl: 5, dnsIP: '10.96.0.10', serial: 1 };
  const before = r.render({ services, endpointSlices: slices }, o);
  const changed = services.map((s) =>
    s.metadata.name === 'kubernetes' ? { ...s, spec: { ...s.spec, clusterIP: '10.96.0.2' } } : s,
  );
  const after = r.render({ services: changed, endpointSlices: slices }, o);
  assert.equal(after.names.get('web.app.svc.cluster.local'), before.names.get('web.app.svc.cluster.local'));
  assert.equal(after.names.get('db.app.svc.cluster.local'), before.names.get('db.app.svc.cluster.local'));
  assert.notEqual(
    after.names.get('kubernetes.default.svc.cluster.local'),
    before.names.get('kubernetes.default.svc.cluster.local'),
  );
  assert.equal(lookup(after, '2.0.96.10.in-addr.arpa', TYPE.PTR).kind, 'answer');
  assert.equal(lookup(after, '1.0.96.10.in-addr.arpa', TYPE.PTR).kind, 'forward');
});
