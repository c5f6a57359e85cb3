// Services claiming the same destination (the same external IP and port, which Kubernetes
// allows): the tables keep the element of the claimant first by name through partial syncs of any.
// The applier runs with an nft that records its scripts; their element lines are played on a
// model of the kernel's maps and sets (an add over a different value and a delete of a missing
// element fail, as the kernel refuses them), which must equal the full render after every sync.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointSlice, Service } from '../../controlplane/shared/kube/index.ts';
import { ProxyApplier, type ProxySource } from '../../agent/proxy/applier.ts';
import { Claims, itemsOf } from '../../agent/proxy/claims.ts';
import { addElement, addMember, emptyFragment, type MapValue, type Tables } from '../../agent/proxy/model.ts';
import { renderRuleset, SHARED_SPEC, shardSpec } from '../../agent/proxy/render.ts';
import { n1Facts } from '../helpers/proxy-facts.ts';

const facts = n1Facts;
const SHARDS = 4;

test('claims: the claimant first by name holds an item, whatever the order of claims; giving it up hands it on', () => {
  const T = SHARED_SPEC.name;
  const part = (...keys: string[]) => {
    const f = emptyFragment();
    for (const k of keys) addElement(f, 'shard-ips', k, { v: 'goto', chain: `to-shard-${keys.length}` });
    addElement(f, 'endpoints-x', '0', { v: 'to', ip: '10.244.1.5', port: 80 }); // no fixed map: not claimed
    return f;
  };
  const a = part('1.1.1.1 . tcp . 80');
  const b = part('1.1.1.1 . tcp . 80', '2.2.2.2 . tcp . 80');
  const parts = new Map([
    ['ns/a', a],
    ['ns/b', b],
  ]);
  assert.equal(itemsOf(T, b).size, 2);
  const c = Claims.of([
    ['ns/b', itemsOf(T, b)],
    ['ns/a', itemsOf(T, a)],
  ]);
  const items = new Set([...itemsOf(T, a), ...itemsOf(T, b)]);
  const owner = (p?: Map<string, string[]>) =>
    Object.fromEntries(
      [
        ...(c
          .winners(items, (s) => parts.get(s) ?? emptyFragment(), p)
          .get(T)
          ?.elements.get('shard-ips') ?? []),
      ].map(([k, v]) => [k, v.v === 'goto' ? v.chain : v.v]),
    );
  assert.deepEqual(owner(), { '1.1.1.1 . tcp . 80': 'to-shard-1', '2.2.2.2 . tcp . 80': 'to-shard-2' });
  // a gives its key up: b still claims it, so it stays, now with b's value.
  const gone = c.plan([{ svc: 'ns/a', before: itemsOf(T, a), after: new Set() }]);
  assert.deepEqual(owner(gone), { '1.1.1.1 . tcp . 80': 'to-shard-2', '2.2.2.2 . tcp . 80': 'to-shard-2' });
  // Nothing changes until committed; taking it back puts a first again (it sorts first).
  assert.deepEqual(owner(), { '1.1.1.1 . tcp . 80': 'to-shard-1', '2.2.2.2 . tcp . 80': 'to-shard-2' });
  c.commit(gone);
  const back = c.plan([{ svc: 'ns/a', before: new Set(), after: itemsOf(T, a) }]);
  assert.deepEqual(owner(back), { '1.1.1.1 . tcp . 80': 'to-shard-1', '2.2.2.2 . tcp . 80': 'to-shard-2' });
  // Both give it up: nobody claims it.
  c.commit(back);
  const none = c.plan([
    { svc: 'ns/b', before: itemsOf(T, b), after: new Set() },
    { svc: 'ns/a', before: itemsOf(T, a), after: new Set() },
  ]);
  assert.deepEqual(owner(none), {});
  // Set members too.
  const m = emptyFragment();
  addMember(m, 'cluster-ips', '10.96.0.9');
  const cm = Claims.of([
    ['x', itemsOf(T, m)],
    ['y', itemsOf(T, m)],
  ]);
  const left = cm.plan([{ svc: 'x', before: itemsOf(T, m), after: new Set() }]);
  assert.deepEqual(
    [
      ...(cm
        .winners(itemsOf(T, m), () => m, left)
        .get(T)
        ?.members.get('cluster-ips') ?? []),
    ],
    ['10.96.0.9'],
  );
});

/** The kernel's fixed maps and sets of every table, as far as element lines change them. */
type Model = Map<string, Map<string, Map<string, string>>>;
const FIXED: [string, string[]][] = [
  [SHARED_SPEC.name, [...SHARED_SPEC.maps, ...SHARED_SPEC.sets].map((m) => m.name)],
  ...Array.from({ length: SHARDS }, (_, i): [string, string[]] => [
    shardSpec(i).name,
    shardSpec(i).maps.map((m) => m.name),
  ]),
];
const valueText = (v: MapValue) =>
  v.v === 'goto' ? `goto ${v.chain}` : v.v === 'drop' ? 'drop' : `${v.ip} . ${v.port}`;

function modelOf(tables: Tables): Model {
  const out: Model = new Map();
  for (const [t, names] of FIXED) {
    const f = tables.get(t) ?? emptyFragment();
    const m = new Map<string, Map<string, string>>();
    for (const n of names) {
      const els = new Map<string, string>();
      for (const [k, v] of f.elements.get(n) ?? []) els.set(k, valueText(v));
      for (const k of f.members.get(n) ?? []) els.set(k, '');
      m.set(n, els);
    }
    out.set(t, m);
  }
  return out;
}

/** Plays a script's element lines on the model, refusing what the kernel refuses. */
function play(model: Model, script: string): void {
  for (const line of script.split('\n')) {
    const m = /^(add|delete) element ip (\S+) (\S+) \{ (.*) \}$/.exec(line);
    const els = m && model.get(m[2])?.get(m[3]);
    if (!m || !els) continue;
    for (const item of m[4].split(', ')) {
      const [k, v = ''] = item.split(' : ');
      if (m[1] === 'delete') {
        if (!els.delete(k)) throw new Error(`kernel: no element ${k} in ${m[2]} ${m[3]}`);
      } else if (els.has(k) && els.get(k) !== v) throw new Error(`kernel: ${k} exists in ${m[2]} ${m[3]}`);
      else els.set(k, v);
    }
  }
}

/** A small deterministic PRNG (mulberry32): the same sequence on every run. */
function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n;
  };
}

test('partial syncs keep the tables equal to the full render when Services claim one destination', async (t) => {
  const rand = rng(7);
  const pick = <T>(xs: T[]) => xs[Math.floor(rand(xs.length))];
  const names = ['a', 'b', 'c', 'd', 'e', 'f'];
  const service = (name: string): Service => {
    const i = names.indexOf(name);
    const type = pick(['ClusterIP', 'NodePort', 'LoadBalancer'] as const);
    return {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { namespace: 'default', name },
      spec: {
        type,
        clusterIP: `10.96.0.${20 + i}`,
        externalIPs: pick([[], ['192.168.50.200'], ['192.168.50.201'], ['192.168.50.200', '192.168.50.201']]),
        // Two Services on one NodePort: the API refuses it, a hand-edited store may not.
        ports: [
          {
            name: 'http',
            port: 80,
            targetPort: 8080,
            ...(type === 'ClusterIP' ? {} : { nodePort: pick([30080, 30081]) }),
          },
        ],
        externalTrafficPolicy: pick(['Cluster', 'Local'] as const),
      },
      status:
        type === 'LoadBalancer' ? { loadBalancer: { ingress: [{ ip: pick(['10.251.0.1', '10.251.0.2']) }] } } : {},
    };
  };
  const slice = (name: string): EndpointSlice => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: 'default', name: `${name}-x`, labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: Array.from({ length: Math.floor(rand(3)) }, (_, k) => ({
      addresses: [`10.244.${1 + k}.${10 + names.indexOf(name)}`],
      nodeName: k === 0 ? 'n1' : 'n2',
      conditions: { ready: true, serving: true, terminating: false },
    })),
  });
  const src: ProxySource = { services: new Map(), endpointSlices: new Map() };
  for (const n of names.slice(0, 4)) {
    src.services.set(`default/${n}`, service(n));
    src.endpointSlices.set(`default/${n}-x`, slice(n));
  }
  const scripts: string[] = [];
  const errors: string[] = [];
  const a = new ProxyApplier({
    nft: { apply: async (s) => void scripts.push(s), readBack: async () => null },
    facts: () => facts,
    source: () => src,
    shards: SHARDS,
    minIntervalMs: 1,
    burst: 1000,
    cleanupDelayMs: 1e9,
    onFailed: (e) => errors.push(e.message),
  });
  t.after(() => a.stop());
  const want = () =>
    modelOf(renderRuleset({ services: src.services.values(), slices: src.endpointSlices.values() }, facts, SHARDS));
  a.start();
  await a.settled();
  const model = modelOf(new Map());
  const playAll = () => {
    for (const s of scripts.splice(0)) play(model, s);
  };
  playAll();
  assert.deepEqual(model, want());
  let clashes = 0;
  for (let step = 0; step < 300; step++) {
    // One to three changes, written in one transaction.
    const done: string[] = [];
    for (let c = 1 + Math.floor(rand(3)); c > 0; c--) {
      const n = pick(names);
      const key = `default/${n}`;
      const what = pick(['service', 'slice', 'delete'] as const);
      if (what === 'delete') src.services.delete(key);
      else if (what === 'service') src.services.set(key, service(n));
      else src.endpointSlices.set(`${key}-x`, slice(n));
      if (what === 'slice') a.slicesChanged([`${key}-x`]);
      else a.servicesChanged([key]);
      done.push(`${what} ${n}`);
    }
    await a.settled();
    playAll();
    assert.deepEqual(errors, [], `step ${step}`);
    assert.deepEqual(model, want(), `step ${step}: ${done.join(', ')}`);
    const ips = [...src.services.values()].flatMap((s) => s.spec?.externalIPs ?? []);
    if (new Set(ips).size < ips.length) clashes++;
  }
  assert.ok(clashes > 20, `the sequence had Services sharing a destination (${clashes} steps)`);
});

test('a Service deleted while its transaction is out is removed by the next sync, and its key handed on', async (t) => {
  const svc = (name: string, ip: string): Service => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: 'default', name },
    spec: { clusterIP: ip, externalIPs: ['192.168.50.200'], ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  });
  const slice = (name: string, ip: string): EndpointSlice => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: 'default', name: `${name}-x`, labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: [{ addresses: [ip], nodeName: 'n2', conditions: { ready: true, serving: true, terminating: false } }],
  });
  const src: ProxySource = {
    services: new Map([
      ['default/a', svc('a', '10.96.0.20')],
      ['default/b', svc('b', '10.96.0.21')],
    ]),
    endpointSlices: new Map([
      ['default/a-x', slice('a', '10.244.2.5')],
      ['default/b-x', slice('b', '10.244.2.6')],
    ]),
  };
  const model = modelOf(new Map());
  let during: (() => void) | undefined;
  const a = new ProxyApplier({
    nft: {
      apply: async (script) => {
        play(model, script);
        const d = during;
        during = undefined;
        d?.();
        await new Promise((r) => setImmediate(r));
      },
      readBack: async () => null,
    },
    facts: () => facts,
    source: () => src,
    shards: SHARDS,
    minIntervalMs: 1,
    cleanupDelayMs: 1e9,
  });
  t.after(() => a.stop());
  const want = () =>
    modelOf(renderRuleset({ services: src.services.values(), slices: src.endpointSlices.values() }, facts, SHARDS));
  a.start();
  await a.settled();
  assert.deepEqual(model, want());
  // a changes; while that transaction is out, a is deleted.
  src.endpointSlices.set('default/a-x', slice('a', '10.244.2.7'));
  during = () => {
    src.services.delete('default/a');
    a.servicesChanged(['default/a']);
  };
  a.slicesChanged(['default/a-x']);
  await a.settled();
  assert.equal(during, undefined, 'the deletion came while the transaction was out');
  assert.deepEqual(model, want());
  // And b keeps the destination through its own changes.
  src.endpointSlices.set('default/b-x', slice('b', '10.244.2.8'));
  a.slicesChanged(['default/b-x']);
  await a.settled();
  assert.deepEqual(model, want());
  const dispatch = model.get(SHARED_SPEC.name)?.get('shard-ips');
  assert.ok(dispatch?.has('192.168.50.200 . tcp . 80'));
});
