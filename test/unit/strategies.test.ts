// The per-kind strategies of the API's object layer, alone: a Service's allocations over a fake
// allocator (addresses and ports handed out from counters), a Pod's deletion grace, a Namespace's
// deletion rules, a Job's generated selector, and the default for every other kind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AllocationError } from '../../controlplane/allocator/service-allocator.ts';
import { findResource } from '../../controlplane/api/resources.ts';
import { ApiError } from '../../controlplane/api/status.ts';
import { strategyFor, type Allocators } from '../../controlplane/api/strategies/index.ts';
import { assignNode, bindingTarget } from '../../controlplane/api/strategies/pod.ts';
import type { Job, Namespace, Pod, Service } from '../../controlplane/shared/kube/index.ts';

/** Hands out 10.96.0.N and ports from 30000 up; remembers what is held. */
function fakeAllocator() {
  const ips = new Set<string>();
  const ports = new Set<number>();
  let nextIp = 100;
  let nextPort = 30000;
  const alloc: Allocators = {
    service: {
      async allocateIP(_owner, requested) {
        const ip = requested ?? `10.96.0.${nextIp++}`;
        if (ips.has(ip)) throw new AllocationError('spec.clusterIPs', [ip], 'provided IP is already allocated');
        ips.add(ip);
        return ip;
      },
      async allocateNodePort(_owner, requested) {
        const port = requested ?? nextPort++;
        if (ports.has(port))
          throw new AllocationError('spec.ports[0].nodePort', port, 'provided port is already allocated');
        ports.add(port);
        return port;
      },
      async releaseIP(ip) {
        ips.delete(ip);
      },
      async releaseNodePort(port) {
        ports.delete(port);
      },
    },
  };
  return { alloc, ips, ports };
}

const service = (spec: Service['spec']): Service => ({
  kind: 'Service',
  metadata: { name: 'web', namespace: 'default' },
  spec,
});

test('a Service gets its ClusterIP and NodePorts, keeps them on update, and gives back what it drops', async () => {
  const s = strategyFor('Service');
  const { alloc, ips, ports } = fakeAllocator();
  const created = service({ type: 'NodePort', ports: [{ port: 80 }, { port: 443, nodePort: 31443 }] });
  await s.reserve(created, null, alloc);
  assert.equal(created.spec.clusterIP, '10.96.0.100');
  assert.deepEqual(created.spec.clusterIPs, ['10.96.0.100']);
  assert.deepEqual(
    created.spec.ports?.map((p) => p.nodePort),
    [30000, 31443],
  );
  assert.deepEqual([...ports].sort(), [30000, 31443]);

  // An update that leaves the nodePort out keeps the one the port had; nothing new is taken.
  const updated = service({ type: 'NodePort', ports: [{ port: 80 }, { port: 443, nodePort: 31443 }] });
  await s.reserve(updated, created, alloc);
  assert.equal(updated.spec.clusterIP, '10.96.0.100');
  assert.deepEqual(
    updated.spec.ports?.map((p) => p.nodePort),
    [30000, 31443],
  );
  assert.equal(ports.size, 2);

  // Back to ClusterIP: the unchanged nodePorts are dropped, and released once written.
  const back = service({ type: 'ClusterIP', clusterIP: '10.96.0.100', ports: structuredClone(updated.spec.ports) });
  s.normalizeUpdate(back, updated);
  assert.deepEqual(
    back.spec.ports?.map((p) => p.nodePort),
    [undefined, undefined],
  );
  await s.reserve(back, updated, alloc);
  await s.releaseDropped(back, updated, alloc);
  assert.deepEqual([...ports], []);
  assert.deepEqual([...ips], ['10.96.0.100']);

  // Deleted: the address goes back too.
  await s.releaseDropped(null, back, alloc);
  assert.deepEqual([...ips], []);
});

test('a Service whose allocation fails is invalid (422 naming the field) and holds nothing', async () => {
  const s = strategyFor('Service');
  const { alloc, ips, ports } = fakeAllocator();
  await alloc.service.allocateNodePort('other/svc', 31000);
  const svc = service({ type: 'NodePort', ports: [{ port: 80 }, { port: 81, nodePort: 31000 }] });
  await assert.rejects(
    () => s.reserve(svc, null, alloc),
    (e) => e instanceof ApiError && e.code === 422 && /spec\.ports\[0\]\.nodePort/.test(JSON.stringify(e.toStatus())),
  );
  assert.deepEqual([...ips], []);
  assert.deepEqual([...ports], [31000]);

  // A write that fails after the reservation gives it back.
  const ok = service({ type: 'NodePort', ports: [{ port: 80 }] });
  const reserved = await s.reserve(ok, null, alloc);
  assert.equal(ips.size, 1);
  await reserved.revert();
  assert.deepEqual([...ips], []);
  assert.deepEqual([...ports], [31000]);
});

test('headless and ExternalName Services take no address', async () => {
  const s = strategyFor('Service');
  const { alloc, ips } = fakeAllocator();
  const headless = service({ clusterIP: 'None', ports: [{ port: 80 }] });
  await s.reserve(headless, null, alloc);
  assert.deepEqual(headless.spec.clusterIPs, ['None']);
  const external = service({ type: 'ExternalName', externalName: 'example.org', clusterIP: '10.96.0.7' });
  await s.reserve(external, null, alloc);
  assert.equal(external.spec.clusterIP, undefined);
  assert.equal(ips.size, 0);
});

const pod = (o: {
  node?: string;
  phase?: Pod['status'] extends infer S ? S : never;
  spec?: number;
  deleting?: number;
}) =>
  ({
    metadata: { name: 'p', namespace: 'default', deletionGracePeriodSeconds: o.deleting },
    spec: { containers: [{ name: 'c' }], nodeName: o.node, terminationGracePeriodSeconds: o.spec },
    status: o.phase,
  }) as Pod;

test('a pod is deleted gracefully only while a node may be running it', () => {
  const s = strategyFor('Pod');
  const cases: [string, Pod, number | undefined, number][] = [
    ['unbound pod', pod({}), undefined, 0],
    ['bound, default grace', pod({ node: 'n1' }), undefined, 30],
    ['bound, spec grace', pod({ node: 'n1', spec: 5 }), undefined, 5],
    ['bound, asked grace', pod({ node: 'n1', spec: 5 }), 2, 2],
    ['bound, spec grace 0 still lets the node stop it', pod({ node: 'n1', spec: 0 }), undefined, 1],
    ['bound, explicit 0 removes at once', pod({ node: 'n1' }), 0, 0],
    ['a second delete only shortens', pod({ node: 'n1', deleting: 10 }), 20, 10],
    ['finished pod', pod({ node: 'n1', phase: { phase: 'Succeeded' } }), undefined, 0],
    ['failed pod', pod({ node: 'n1', phase: { phase: 'Failed' } }), undefined, 0],
  ];
  for (const [what, p, asked, want] of cases)
    assert.equal(s.deletionGrace(p, { gracePeriodSeconds: asked }), want, what);
  const deleting = pod({ node: 'n1', deleting: 30 });
  assert.equal(s.staysAfterUpdate(deleting, deleting), true, 'a bound pod waits for its node');
  assert.equal(s.staysAfterUpdate(pod({ node: 'n1', deleting: 0 }), deleting), false, 'the node confirmed');
});

test('binding assigns a pod once and marks it scheduled', () => {
  const pods = findResource('', 'v1', 'pods')!;
  assert.equal(bindingTarget('p', { target: { name: 'n1' } }), 'n1');
  for (const bad of [null, [], { target: {} }, { target: 'n1' }])
    assert.throws(
      () => bindingTarget('p', bad),
      (e) => e instanceof ApiError && e.code === 422,
    );
  const p = pod({});
  assignNode(p, 'n1', pods, '2026-11-30T00:00:00Z');
  assert.equal(p.spec.nodeName, 'n1');
  assert.deepEqual(
    p.status?.conditions?.map((c) => [c.type, c.status]),
    [['PodScheduled', 'True']],
  );
  assert.throws(
    () => assignNode(p, 'n2', pods, '2026-11-30T00:00:00Z'),
    (e) => e instanceof ApiError && e.code === 409,
  );
});

test('namespaces: the built-in ones stay, a deleted one turns Terminating and waits for finalize', () => {
  const s = strategyFor('Namespace');
  const ns = (name: string, finalizers?: string[]): Namespace => ({
    metadata: { name },
    spec: finalizers ? { finalizers } : {},
    status: { phase: 'Active' },
  });
  for (const name of ['default', 'kube-system', 'kube-public'])
    assert.throws(
      () => s.beforeDelete(ns(name)),
      (e) => e instanceof ApiError && e.code === 403,
      name,
    );
  s.beforeDelete(ns('team-a'));
  assert.equal(s.awaitsFinalize(ns('team-a', ['kubernetes'])), true);
  assert.equal(s.awaitsFinalize(ns('team-a')), false);
  const doomed = ns('team-a', ['kubernetes']);
  s.markDeleting(doomed);
  assert.equal(doomed.status?.phase, 'Terminating');
  const created = ns('team-b');
  s.prepareForCreate(created, findResource('', 'v1', 'namespaces')!);
  assert.equal(created.status?.phase, 'Active', 'a namespace keeps the status it is created with');
});

test('a Job gets a selector from its uid unless it brings its own', () => {
  const s = strategyFor('Job');
  const job = (manual?: boolean): Job => ({
    metadata: { name: 'j', uid: 'u-1' },
    spec: { manualSelector: manual, template: { metadata: { labels: { app: 'x' } }, spec: { containers: [] } } },
  });
  const auto = job();
  s.canonicalize(auto);
  assert.deepEqual(auto.spec.selector, { matchLabels: { 'batch.kubernetes.io/controller-uid': 'u-1' } });
  assert.equal(auto.spec.template.metadata?.labels?.app, 'x');
  assert.equal(auto.spec.template.metadata?.labels?.['job-name'], 'j');
  const manual = job(true);
  s.canonicalize(manual);
  assert.equal(manual.spec.selector, undefined);
});

test('other kinds take the default: status only through its subresource, no grace, no create on update', () => {
  const deployments = findResource('apps', 'v1', 'deployments')!;
  const configmaps = findResource('', 'v1', 'configmaps')!;
  const d = strategyFor('Deployment');
  const obj = { metadata: { name: 'd' }, status: { replicas: 3 } };
  d.prepareForCreate(obj, deployments);
  assert.equal(obj.status, undefined);
  const cm = { metadata: { name: 'c' }, status: 'kept' };
  strategyFor('ConfigMap').prepareForCreate(cm, configmaps);
  assert.equal(cm.status, 'kept');
  assert.equal(d.deletionGrace(obj, {}), 0);
  assert.equal(d.allowCreateOnUpdate, false);
  for (const kind of ['Endpoints', 'EndpointSlice', 'Lease', 'Event'])
    assert.equal(strategyFor(kind).allowCreateOnUpdate, true, kind);
  assert.equal(strategyFor('Node').allowCreateOnUpdate, false);
});
