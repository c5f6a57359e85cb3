// The pure parts around the proxy's table: the diff (read-back adoption, element-level
// changes), UDP conntrack cleanup, LoadBalancer announcement, health checks, the trigger-time
// annotation and the mirroring of hand-written Endpoints into EndpointSlices.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointSlice, Node, Service } from '../../controlplane/shared/kube/index.ts';
import { renderRuleset, SHARED_SPEC, shardSpec, type ProxyState } from '../../agent/proxy/render.ts';
import { carry, diff, noPending } from '../../agent/proxy/diff.ts';
import { emptyFragment, type Chain, type Fragment } from '../../agent/proxy/model.ts';
import { chainFingerprint, printElement } from '../../agent/proxy/nft-text.ts';
import { endpointsIn, kernelBefore, ProxyApplier } from '../../agent/proxy/applier.ts';
import { emptyLoaded, parseReadBack, summarize, type Loaded } from '../../agent/proxy/loaded.ts';
import { staleFlowDeletions, udpFlows } from '../../agent/proxy/conntrack.ts';
import { announcedHere, announcer, nextPresenceChange } from '../../agent/proxy/announce.ts';
import { AGENT_DISCONNECTED, AGENT_GONE_AFTER_MS } from '../../controlplane/shared/agent-presence.ts';
import { healthTarget } from '../../agent/proxy/healthcheck.ts';
import { planSlices, TRIGGER_TIME } from '../../controlplane/controllers/endpoints-plan.ts';
import { mirrored, mirrorSlices, MIRROR_CONTROLLER } from '../../controlplane/controllers/endpoints-mirroring.ts';
import { n1Facts } from '../helpers/proxy-facts.ts';

const facts = n1Facts;
const svc = (name: string, spec: Service['spec'], lbIP?: string): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { namespace: 'default', name },
  spec,
  status: lbIP ? { loadBalancer: { ingress: [{ ip: lbIP }] } } : {},
});
const slice = (svcName: string, ports: EndpointSlice['ports'], eps: [string, string][]): EndpointSlice => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { namespace: 'default', name: `${svcName}-a`, labels: { 'kubernetes.io/service-name': svcName } },
  addressType: 'IPv4',
  ports,
  endpoints: eps.map(([ip, node]) => ({ addresses: [ip], nodeName: node, conditions: { ready: true } })),
});

/** One shard: the per-Service part of the ruleset, in `skiff-proxy-0`. */
const S0 = shardSpec(0);
const renderShard = (state: ProxyState, f = facts) => renderRuleset(state, f, 1).get(S0.name) as Fragment;

/** Commands for which nft 1.0.6 fills its cache with the list of tables only (docs/proxy.md). */
const CHEAP = /^(add chain|flush chain|add map|add set) /;

test('diff: a table right needs nothing; one endpoint more (affinity) rewrites the service chain, adds one', () => {
  // Session affinity keeps a chain per endpoint (without it a Service is one chain: see below).
  const web = svc('web', {
    clusterIP: '10.96.0.20',
    sessionAffinity: 'ClientIP',
    ports: [{ name: 'p', port: 80 }],
  });
  const one = renderShard(
    { services: [web], slices: [slice('web', [{ name: 'p', port: 8080 }], [['10.244.1.5', 'n1']])] },
    facts,
  );
  const two = renderShard(
    {
      services: [web],
      slices: [
        slice(
          'web',
          [{ name: 'p', port: 8080 }],
          [
            ['10.244.1.5', 'n1'],
            ['10.244.2.5', 'n2'],
          ],
        ),
      ],
    },
    facts,
  );
  assert.deepEqual(diff(S0, summarize(one), one).lines, []);
  const d = diff(S0, summarize(one), two);
  const touched = d.lines.filter((l) => / chain /.test(l)).map((l) => l.split(' ')[4]);
  assert.deepEqual([...new Set(touched)].sort(), ['ep-default/web/tcp/80__10.244.2.5/8080', 'svc-default/web/tcp/80']);
  assert.equal(d.chainsWritten, 2);
  assert.deepEqual(
    d.lines.filter((l) => !CHEAP.test(l)),
    [],
  );
  // Back to one endpoint: the extra chain is flushed now and deleted by the cleanup.
  const back = diff(S0, summarize(two), one);
  assert.deepEqual(back.staleChains, ['ep-default/web/tcp/80__10.244.2.5/8080']);
  assert.ok(back.lines.includes('flush chain ip skiff-proxy-0 ep-default/web/tcp/80__10.244.2.5/8080'));
  assert.deepEqual(
    back.lines.filter((l) => !CHEAP.test(l)),
    [],
  );
  assert.equal(back.stalePrints.length, 2); // the old service chain's fingerprint and the endpoint chain's
  const pending = carry(noPending(), one, back);
  const later = diff(S0, summarize(one), one, pending);
  assert.deepEqual(later.lines.slice(0, 3), [
    `delete map ip skiff-proxy-0 ${two.maps[0].name}`,
    'delete chain ip skiff-proxy-0 ep-default/web/tcp/80__10.244.2.5/8080',
    'delete set ip skiff-proxy-0 aff-default/web/tcp/80__10.244.2.5/8080',
  ]);
  assert.match(later.lines[3], /^delete element ip skiff-proxy-0 fingerprints \{ [^,]+, [^,]+ \}$/);
  assert.equal(later.lines.length, 4);
  // Kernels before 6.2: the chains a map pointed at are deleted one cleanup after the map.
  assert.deepEqual(
    ['5.15.0-91-generic', '6.1.0-13-amd64', '6.2.0', '6.18.44-fc-v782'].map((r) => kernelBefore(6, 2, r)),
    [true, true, false, false],
  );
  const old = diff(S0, summarize(one), one, pending, { mapsBeforeChains: true });
  assert.ok(!old.lines.some((l) => l.startsWith('delete chain')));
  assert.deepEqual(old.staleChains, ['ep-default/web/tcp/80__10.244.2.5/8080']);
  // From nothing: everything is written.
  assert.equal(diff(S0, emptyLoaded(), one).chainsWritten, one.chains.length);
});

test('diff: an endpoint replaced declares a new endpoint data map, the service chain names it, nothing else', () => {
  const web = svc('web', { clusterIP: '10.96.0.20', ports: [{ name: 'p', port: 80 }] });
  const at = (ip: string) =>
    renderShard({ services: [web], slices: [slice('web', [{ name: 'p', port: 8080 }], [[ip, 'n1']])] });
  const a = at('10.244.1.5');
  const b = at('10.244.2.5');
  assert.notEqual(a.maps[0].name, b.maps[0].name);
  const d = diff(S0, summarize(a), b);
  const touched = d.lines.filter((l) => / chain /.test(l)).map((l) => l.split(' ')[4]);
  // One chain in the kernel per Service: the endpoints live in the map.
  assert.deepEqual([...new Set(touched)].sort(), ['svc-default/web/tcp/80']);
  assert.equal(d.chainsWritten, 1);
  assert.deepEqual(d.staleChains, []);
  assert.deepEqual(
    d.lines.filter((l) => !CHEAP.test(l)),
    [],
  );
  assert.ok(
    d.lines.includes(
      `add map ip skiff-proxy-0 ${b.maps[0].name} { typeof numgen random mod 2 : ip daddr . th dport ; ` +
        'elements = { 0 : 10.244.2.5 . 8080 } ; }',
    ),
  );
  assert.deepEqual(d.staleMaps, [a.maps[0].name]);
  // The new map exists before the rule naming it.
  const at0 = (re: RegExp) => d.lines.findIndex((l) => re.test(l));
  assert.ok(at0(/^add map /) < at0(/^add chain .*svc-default\/web\/tcp\/80 \{/));
  assert.match(
    d.lines[at0(/^add chain .*svc-default\/web\/tcp\/80 \{/)],
    new RegExp(`meta l4proto tcp dnat ip to numgen random mod 1 map @${b.maps[0].name} ;`),
  );
  // The Service goes: its map is deleted with the chains by the cleanup.
  const gone = diff(S0, summarize(a), renderShard({ services: [], slices: [] }));
  assert.deepEqual(gone.staleMaps, [a.maps[0].name]);
  const later = diff(S0, emptyLoaded(), emptyFragment(), carry(noPending(), emptyFragment(), gone));
  assert.equal(later.lines[0], `delete map ip skiff-proxy-0 ${a.maps[0].name}`);
});

test('diff: a chain read back with two fingerprints (an agent stopped before its cleanup) is written again', () => {
  const web = svc('web', { clusterIP: '10.96.0.20', ports: [{ name: 'p', port: 80 }] });
  const want = renderShard(
    { services: [web], slices: [slice('web', [{ name: 'p', port: 8080 }], [['10.244.1.5', 'n1']])] },
    facts,
  );
  const chain = 'svc-default/web/tcp/80';
  const right = printElement(chain, chainFingerprint(want.chains.find((c) => c.name === chain) as Chain));
  const older = printElement(chain, '0123456789abcdef');
  const json = (kind: string, items: object[]) =>
    JSON.stringify({ nftables: items.map((i) => ({ [kind]: { table: 'skiff-proxy-0', ...i } })) });
  const read = (prints: string[]) =>
    parseReadBack({
      chains: json(
        'chain',
        want.chains.map((c) => ({ name: c.name })),
      ),
      sets: json('set', []),
      maps: json(
        'map',
        want.maps.map((m) => ({ name: m.name })),
      ),
      elements: [
        ...[...want.elements].map(([name, els]) =>
          json('map', [
            {
              name,
              elem: [...els].map(([k, v]) => [
                k.includes(' . ') ? { concat: k.split(' . ') } : k,
                v.v === 'drop'
                  ? { drop: null }
                  : v.v === 'to'
                    ? { concat: [v.ip, v.port] }
                    : { goto: { target: v.chain } },
              ]),
            },
          ]),
        ),
        json('set', [
          {
            name: 'fingerprints',
            elem: [
              ...want.chains.filter((c) => c.name !== chain).map((c) => printElement(c.name, chainFingerprint(c))),
              ...prints,
            ].map((p) => ({ concat: p.split(' . ') })),
          },
        ]),
      ],
    }).get('skiff-proxy-0') as Loaded;
  // Base chains are not in this fragment: only the service's own chains are compared.
  assert.deepEqual(diff(S0, read([right]), want).lines, []);
  // Which of the two the kernel holds is unknown: in either order, the chain is written again.
  assert.equal(diff(S0, read([older, right]), want).chainsWritten, 1);
  const d = diff(S0, read([right, older]), want);
  assert.deepEqual(
    d.lines.filter((l) => / chain /.test(l)).map((l) => l.split(' ').slice(0, 5).join(' ')),
    [`flush chain ip skiff-proxy-0 ${chain}`, `add chain ip skiff-proxy-0 ${chain}`],
  );
  // Its print is added again now; the older one is deleted by the cleanup.
  assert.deepEqual(d.stalePrints, [older]);
});

test('diff: an element changing its verdict is deleted and added again in the same transaction', () => {
  const web = svc('web', { clusterIP: '10.96.0.20', ports: [{ name: 'p', port: 80 }] });
  const withEp = renderRuleset(
    { services: [web], slices: [slice('web', [{ name: 'p', port: 8080 }], [['10.244.1.5', 'n1']])] },
    facts,
    1,
  );
  const without = renderRuleset({ services: [web], slices: [] }, facts, 1);
  const d = (t: string) =>
    diff(t === S0.name ? S0 : SHARED_SPEC, summarize(withEp.get(t) as Fragment), without.get(t) as Fragment);
  // The dispatch element leaves the Service's shard; the refusal goes into the shared table.
  assert.ok(d(S0.name).lines.includes('delete element ip skiff-proxy-0 service-ips { 10.96.0.20 . tcp . 80 }'));
  assert.ok(
    d('skiff-proxy').lines.includes(
      'add element ip skiff-proxy no-endpoint-services { 10.96.0.20 . tcp . 80 : goto reject-chain }',
    ),
  );
});

test('conntrack: a UDP endpoint that goes away (also scaling to zero) has its flows deleted', () => {
  const dns = svc('dns', {
    type: 'NodePort',
    clusterIP: '10.96.0.53',
    ports: [{ name: 'd', port: 53, protocol: 'UDP', nodePort: 30053 }],
  });
  const ports: EndpointSlice['ports'] = [{ name: 'd', port: 5353, protocol: 'UDP' }];
  const before = udpFlows(
    dns,
    [
      slice('dns', ports, [
        ['10.244.1.5', 'n1'],
        ['10.244.2.5', 'n2'],
      ]),
    ],
    facts,
  );
  const after = udpFlows(dns, [slice('dns', ports, [['10.244.1.5', 'n1']])], facts);
  assert.deepEqual(staleFlowDeletions(before, after), [
    ['-D', '-p', 'udp', '--orig-dst', '10.96.0.53', '--orig-port-dst', '53', '--reply-src', '10.244.2.5'],
    ['-D', '-p', 'udp', '--orig-port-dst', '30053', '--reply-src', '10.244.2.5'],
  ]);
  const zero = udpFlows(dns, [], facts);
  assert.equal(staleFlowDeletions(after, zero).length, 2);
  assert.deepEqual(staleFlowDeletions(after, after), []);
  // TCP needs none of it.
  const tcp = svc('t', { clusterIP: '10.96.0.54', ports: [{ name: 'd', port: 53 }] });
  assert.equal(udpFlows(tcp, [slice('t', [{ name: 'd', port: 53 }], [['10.244.1.5', 'n1']])], facts).size, 0);
});

const node = (name: string, ready: boolean): Node => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name },
  status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});

test('LoadBalancer IPs: one Ready node each, the same answer everywhere, moved only when that node goes', () => {
  const nodes = [node('n1', true), node('n2', true), node('n3', true)];
  const lbs: [Service, EndpointSlice[]][] = Array.from({ length: 30 }, (_, i) => [
    svc(`lb${i}`, { type: 'LoadBalancer', clusterIP: `10.96.1.${i}`, ports: [{ port: 80 }] }, `10.251.0.${i + 1}`),
    [],
  ]);
  const held = ['n1', 'n2', 'n3'].map((n) => announcedHere(lbs, nodes, n));
  assert.equal(
    held.reduce((a, s) => a + s.size, 0),
    30,
  );
  assert.ok(
    held.every((s) => s.size > 0),
    'spread over the nodes',
  );
  // n2 becomes NotReady: its IPs move, the others stay where they were.
  const after = ['n1', 'n3'].map((n) => announcedHere(lbs, [nodes[0], node('n2', false), nodes[2]], n));
  for (const ip of held[0]) assert.ok(after[0].has(ip));
  for (const ip of held[2]) assert.ok(after[1].has(ip));
  assert.equal(after[0].size + after[1].size, 30);
  // n2's agent drops its connection: still n2's for AGENT_GONE_AFTER_MS (a restart), then moved.
  const now = Date.parse('2026-01-01T00:00:10Z');
  const away = (ms: number) => {
    const n = node('n2', true);
    n.metadata.annotations = { [AGENT_DISCONNECTED]: new Date(now - ms).toISOString() };
    return [nodes[0], n, nodes[2]];
  };
  assert.deepEqual([...announcedHere(lbs, away(1000), 'n2', now)].sort(), [...held[1]].sort());
  assert.equal(nextPresenceChange(away(1000), now), AGENT_GONE_AFTER_MS - 1000);
  assert.equal(announcedHere(lbs, away(AGENT_GONE_AFTER_MS), 'n2', now).size, 0);
  assert.deepEqual(announcedHere(lbs, away(AGENT_GONE_AFTER_MS), 'n1', now), after[0]);
  assert.equal(nextPresenceChange(away(AGENT_GONE_AFTER_MS), now), undefined);
  assert.equal(announcer('10.251.0.1', []), undefined);
  // Local policy: only a node with an endpoint may announce.
  const local = svc(
    'loc',
    { type: 'LoadBalancer', clusterIP: '10.96.2.1', externalTrafficPolicy: 'Local', ports: [{ name: 'p', port: 80 }] },
    '10.251.0.99',
  );
  const eps = [slice('loc', [{ name: 'p', port: 8080 }], [['10.244.3.5', 'n3']])];
  assert.ok(announcedHere([[local, eps]], nodes, 'n3').has('10.251.0.99'));
  assert.equal(announcedHere([[local, eps]], nodes, 'n1').size, 0);
  // A status written with the Service (kept, as Kubernetes keeps it) may name anything: a node
  // takes on its interface only an address it may hold, and null items are skipped.
  const odd = svc('odd', { type: 'LoadBalancer', clusterIP: '10.96.2.2', externalTrafficPolicy: 'Local', ports: [] });
  odd.spec!.ports = [null as unknown as { port: number }];
  odd.status = {
    loadBalancer: {
      ingress: [null, { ip: '127.0.0.1' }, { ip: '0.0.0.0' }, { ip: '224.0.0.5' }, { ip: '10.251.0.7 dev lo' }] as {
        ip: string;
      }[],
    },
  };
  for (const n of ['n1', 'n2', 'n3'])
    assert.equal(
      announcedHere([[{ ...odd, spec: { ...odd.spec, externalTrafficPolicy: 'Cluster' } }, []]], nodes, n).size,
      0,
    );
  for (const n of ['n1', 'n2', 'n3']) assert.equal(announcedHere([[odd, []]], nodes, n).size, 0);
});

test('health check: local endpoint count for Local LoadBalancers with a healthCheckNodePort', () => {
  const spec: Service['spec'] = {
    type: 'LoadBalancer',
    clusterIP: '10.96.3.1',
    externalTrafficPolicy: 'Local',
    healthCheckNodePort: 32000,
    ports: [{ name: 'p', port: 80 }],
  };
  const eps = [
    slice(
      'hc',
      [{ name: 'p', port: 8080 }],
      [
        ['10.244.1.5', 'n1'],
        ['10.244.1.6', 'n1'],
        ['10.244.2.5', 'n2'],
      ],
    ),
  ];
  assert.deepEqual(healthTarget(svc('hc', spec), eps, facts), [
    32000,
    { namespace: 'default', name: 'hc', localEndpoints: 2 },
  ]);
  assert.equal(healthTarget(svc('hc', spec), eps, { ...facts, nodeName: 'n3' })?.[1].localEndpoints, 0);
  assert.equal(healthTarget(svc('hc', { ...spec, externalTrafficPolicy: 'Cluster' }), eps, facts), null);
});

test('EndpointSlice plans carry the last-change-trigger-time of the change that caused them', () => {
  const s = { metadata: { name: 'web', namespace: 'default', uid: 'u1' }, spec: {} };
  const want = [
    { ports: [{ name: 'p', port: 80, protocol: 'TCP' as const }], endpoints: [{ addresses: ['10.244.1.5'] }] },
  ];
  const created = planSlices(s, [], want, '2026-11-30T17:00:00.000Z').create[0];
  assert.equal(created.metadata.annotations?.[TRIGGER_TIME], '2026-11-30T17:00:00.000Z');
  const existing = [{ ...created, metadata: { ...created.metadata, name: 'web-x' } }];
  const changed = [{ ...want[0], endpoints: [{ addresses: ['10.244.1.6'] }] }];
  const updated = planSlices(s, existing, changed, '2026-11-30T17:00:05.000Z').update[0];
  assert.equal(updated.metadata.annotations?.[TRIGGER_TIME], '2026-11-30T17:00:05.000Z');
});

test('hand-written Endpoints of a selector-less Service are mirrored into EndpointSlices', () => {
  const db = { metadata: { name: 'db', namespace: 'default', uid: 'u2' }, spec: { ports: [{ port: 5432 }] } };
  const ep = {
    metadata: { name: 'db', namespace: 'default' },
    subsets: [
      {
        addresses: [{ ip: '192.168.50.40' }, { ip: 'fd00::1' }],
        notReadyAddresses: [{ ip: '192.168.50.41' }],
        ports: [{ port: 5432 }],
      },
    ],
  };
  assert.ok(mirrored(db, ep));
  assert.ok(!mirrored({ ...db, spec: { selector: { app: 'db' } } }, ep));
  assert.ok(
    !mirrored(db, {
      ...ep,
      metadata: { ...ep.metadata, labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } },
    }),
  );
  const slices = mirrorSlices(ep);
  assert.deepEqual(slices, [
    {
      ports: [{ name: '', port: 5432, protocol: 'TCP' }],
      endpoints: [
        { addresses: ['192.168.50.40'], conditions: { ready: true, serving: true, terminating: false } },
        { addresses: ['192.168.50.41'], conditions: { ready: false, serving: false, terminating: false } },
      ],
    },
  ]);
  const plan = planSlices(db, [], slices, undefined, MIRROR_CONTROLLER);
  assert.equal(plan.create[0].metadata.labels?.['endpointslice.kubernetes.io/managed-by'], MIRROR_CONTROLLER);
  assert.equal(plan.create[0].metadata.labels?.['kubernetes.io/service-name'], 'db');
});

test('applier: the endpoint count is one per service port and endpoint, in either layout', () => {
  const ports = [
    { name: 'a', port: 80 },
    { name: 'b', port: 81 },
  ];
  const eps: [string, string][] = [
    ['10.244.1.5', 'n1'],
    ['10.244.2.5', 'n2'],
  ];
  const slices = [
    slice(
      'web',
      [
        { name: 'a', port: 8080 },
        { name: 'b', port: 8081 },
      ],
      eps,
    ),
  ];
  const count = (spec: Service['spec']) => endpointsIn(renderShard({ services: [svc('web', spec)], slices }));
  assert.equal(count({ clusterIP: '10.96.0.20', ports }), 4);
  // A Local policy's map holds a subset: not counted twice.
  assert.equal(count({ clusterIP: '10.96.0.20', internalTrafficPolicy: 'Local', ports }), 4);
  assert.equal(count({ clusterIP: '10.96.0.20', sessionAffinity: 'ClientIP', ports }), 4);
  assert.equal(count({ clusterIP: 'None', ports }), 0);
});

test('applier: options left undefined take the defaults, and a burst of changes is coalesced', async () => {
  const scripts: string[] = [];
  const web = svc('web', { clusterIP: '10.96.0.20', ports: [{ name: 'p', port: 80 }] });
  const src = { services: new Map([['default/web', web]]), endpointSlices: new Map<string, EndpointSlice>() };
  const a = new ProxyApplier({
    // A recording stand-in for nft: the scheduling around it is what is under test here.
    nft: { apply: async (s) => void scripts.push(s), readBack: async () => null },
    facts: () => facts,
    source: () => src,
    minIntervalMs: undefined,
    burst: undefined,
  });
  a.start();
  await a.settled();
  assert.equal(scripts.length, 1);
  for (let i = 0; i < 20; i++) {
    src.endpointSlices.set('default/web-a', slice('web', [{ name: 'p', port: 8080 + i }], [['10.244.1.5', 'n1']]));
    a.slicesChanged(['default/web-a']);
  }
  await a.settled();
  a.stop();
  assert.ok(scripts.length >= 2 && scripts.length <= 3, `${scripts.length} transactions`);
  assert.match(scripts.at(-1) ?? '', /10\.244\.1\.5 \. 8099/);
});

test('applier: a full sync of 10,000 Services into one shard (over 100,000 lines) is written', async () => {
  const { world, facts: benchFacts } = await import('../../bench/proxy-fixture.ts');
  const src = world(10_000, 0);
  // Session affinity keeps a chain and a set per endpoint: 11 lines more per Service.
  for (const s of src.services.values()) if (s.spec) s.spec.sessionAffinity = 'ClientIP';
  const scripts: string[] = [];
  const errors: Error[] = [];
  const a = new ProxyApplier({
    nft: { apply: async (s) => void scripts.push(s), readBack: async () => null },
    facts: () => benchFacts,
    source: () => src,
    shards: 1,
    onFailed: (e) => errors.push(e),
  });
  a.start();
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (scripts.length || errors.length) resolve(clearInterval(check));
    }, 20);
  });
  a.stop();
  assert.deepEqual(
    errors.map((e) => e.message),
    [],
  );
  assert.ok(scripts[0].split('\n').length > 100_000);
});
