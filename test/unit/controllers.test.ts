// The controllers' pure parts as tables: replica plans, the Deployment algorithm step by step,
// endpoints and slices, and the garbage collector's decisions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deletionRank, planReplicas } from '../../controlplane/controllers/replicaset.ts';
import {
  HASH_LABEL,
  REVISION,
  planDeployment,
  resolveIntOrPercent,
  surgeAndUnavailable,
  templateHash,
} from '../../controlplane/controllers/deployment-plan.ts';
import {
  desiredSlices,
  endpointGroups,
  endpointsSubsets,
  planSlices,
} from '../../controlplane/controllers/endpoints-plan.ts';
import { planGc } from '../../controlplane/controllers/garbage-collector.ts';
import type { ObjectMeta, Obj, Pod, Taint, Toleration } from '../../controlplane/shared/kube/index.ts';

const T0 = Date.parse('2026-11-22T00:00:00Z');
const ready = (since = '2026-11-22T00:00:00Z') => ({
  phase: 'Running',
  conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: since }],
});
const pod = (
  name: string,
  o: {
    labels?: Obj;
    owner?: string;
    status?: Obj;
    node?: string;
    created?: string;
    deleting?: boolean;
    ip?: string;
    ports?: Obj[];
  } = {},
): Obj => ({
  metadata: {
    name,
    namespace: 'ns',
    uid: `uid-${name}`,
    labels: o.labels ?? { app: 'a' },
    creationTimestamp: o.created ?? '2026-11-22T00:00:00Z',
    ...(o.owner ? { ownerReferences: [{ uid: o.owner, controller: true, kind: 'ReplicaSet', name: 'rs' }] } : {}),
    ...(o.deleting ? { deletionTimestamp: 'x' } : {}),
  },
  spec: { ...(o.node ? { nodeName: o.node } : {}), containers: [{ name: 'c', ports: o.ports ?? [] }] },
  status: { ...(o.status ?? {}), ...(o.ip ? { podIP: o.ip } : {}) },
});
const rs = (replicas: number, extra: Obj = {}): Obj => ({
  kind: 'ReplicaSet',
  metadata: { name: 'rs', namespace: 'ns', uid: 'rs1', generation: 2 },
  spec: {
    replicas,
    selector: { matchLabels: { app: 'a' } },
    template: { metadata: { labels: { app: 'a' } } },
    ...extra,
  },
});

test('replica plans: create, delete in rank order, adopt, release, count', () => {
  let p = planReplicas(rs(3), [pod('a', { owner: 'rs1', status: ready() })], T0);
  assert.equal(p.create, 2);
  assert.deepEqual(p.status, {
    replicas: 1,
    fullyLabeledReplicas: 1,
    readyReplicas: 1,
    availableReplicas: 1,
    observedGeneration: 2,
  });
  p = planReplicas(
    rs(1),
    [pod('orphan'), pod('other', { labels: { app: 'b' } }), pod('gone', { owner: 'rs1', labels: { app: 'b' } })],
    T0,
  );
  assert.deepEqual(
    p.adopt.map((x) => x.metadata.name),
    ['orphan'],
  );
  assert.deepEqual(
    p.release.map((x) => x.metadata.name),
    ['gone'],
  );
  assert.equal(p.create, 0);
  const pods = [
    pod('old-ready', { owner: 'rs1', node: 'n', status: ready(), created: '2026-11-22T00:00:00Z' }),
    pod('new-ready', { owner: 'rs1', node: 'n', status: ready(), created: '2026-11-22T00:01:00Z' }),
    pod('not-ready', { owner: 'rs1', node: 'n', status: { phase: 'Running' } }),
    pod('unscheduled', { owner: 'rs1' }),
    pod('terminating', { owner: 'rs1', deleting: true }),
  ];
  p = planReplicas(rs(1), pods, T0);
  assert.deepEqual(
    p.remove.map((x) => x.metadata.name),
    ['unscheduled', 'not-ready', 'new-ready'],
    'terminating pods are not counted',
  );
  assert.ok(deletionRank(pods[3], pods[0]) < 0);
  const slow = planReplicas(
    rs(1, { minReadySeconds: 30 }),
    [pod('a', { owner: 'rs1', status: ready('2026-11-22T00:00:00Z') })],
    T0 + 10_000,
  );
  assert.equal(slow.status.availableReplicas, 0, 'not yet available for minReadySeconds');
});

test('maxSurge rounds up, maxUnavailable down; both zero means one unavailable', () => {
  assert.equal(resolveIntOrPercent('25%', 10, true, '25%'), 3);
  assert.equal(resolveIntOrPercent('25%', 10, false, '25%'), 2);
  assert.equal(resolveIntOrPercent(2, 10, false, '25%'), 2);
  assert.deepEqual(
    surgeAndUnavailable({ spec: { replicas: 4, strategy: { rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } } } }),
    { maxSurge: 0, maxUnavailable: 1 },
  );
  assert.deepEqual(surgeAndUnavailable({ spec: { replicas: 3, strategy: { type: 'Recreate' } } }), {
    maxSurge: 0,
    maxUnavailable: 3,
  });
});

const deploy = (image: string, o: Obj = {}): Obj => ({
  kind: 'Deployment',
  apiVersion: 'apps/v1',
  metadata: { name: 'web', namespace: 'ns', uid: 'd1', generation: 2, annotations: o.annotations ?? {} },
  spec: {
    replicas: 4,
    selector: { matchLabels: { app: 'a' } },
    strategy: { rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } },
    template: { metadata: { labels: { app: 'a' } }, spec: { containers: [{ name: 'c', image }] } },
    ...(o.spec ?? {}),
  },
  status: o.status ?? {},
});
const ownedRs = (
  d: Obj,
  name: string,
  replicas: number,
  available: number,
  revision: number,
  created: string,
): Obj => ({
  metadata: {
    name,
    namespace: 'ns',
    uid: name,
    creationTimestamp: created,
    labels: { ...d.spec.template.metadata.labels, [HASH_LABEL]: name.split('-')[1] },
    annotations: { [REVISION]: String(revision) },
    ownerReferences: [{ uid: 'd1', controller: true }],
  },
  spec: {
    replicas,
    template: {
      ...d.spec.template,
      metadata: { labels: { ...d.spec.template.metadata.labels, [HASH_LABEL]: name.split('-')[1] } },
    },
  },
  status: { replicas, availableReplicas: available, readyReplicas: available },
});

test('a rolling update proceeds within maxSurge and maxUnavailable', () => {
  const v1 = deploy('busybox:1'),
    v2 = deploy('busybox:2');
  const h1 = templateHash(v1.spec.template),
    h2 = templateHash(v2.spec.template);
  const old = ownedRs(v1, `web-${h1}`, 4, 4, 1, '2026-11-22T00:00:00Z');
  // Step 1: the new ReplicaSet starts at the surge allowance, with the next revision.
  let p = planDeployment(v2, [old], T0);
  assert.equal(p.create?.metadata.name, `web-${h2}`);
  assert.equal(p.create?.spec.replicas, 1);
  assert.equal(p.create?.metadata.annotations[REVISION], '2');
  assert.equal(p.create?.spec.selector.matchLabels[HASH_LABEL], h2);
  // Step 2: new one not yet available: old may drop by maxUnavailable only (4 - 1 = 3 available must stay).
  const fresh = ownedRs(v2, `web-${h2}`, 1, 0, 2, '2026-11-22T00:01:00Z');
  p = planDeployment(v2, [old, fresh], T0);
  assert.deepEqual(p.scale, [{ name: `web-${h1}`, replicas: 3 }]);
  // Step 3: with 3 old + 1 new available, new grows to 2 (total 5 = 4 + surge) and old drops to 2.
  p = planDeployment(
    v2,
    [
      ownedRs(v1, `web-${h1}`, 3, 3, 1, '2026-11-22T00:00:00Z'),
      ownedRs(v2, `web-${h2}`, 1, 1, 2, '2026-11-22T00:01:00Z'),
    ],
    T0,
  );
  assert.deepEqual(p.scale, [
    { name: `web-${h1}`, replicas: 2 },
    { name: `web-${h2}`, replicas: 2 },
  ]);
  // Done: everything new and available — the status kubectl rollout status waits for.
  p = planDeployment(
    v2,
    [
      ownedRs(v1, `web-${h1}`, 0, 0, 1, '2026-11-22T00:00:00Z'),
      ownedRs(v2, `web-${h2}`, 4, 4, 2, '2026-11-22T00:01:00Z'),
    ],
    T0,
  );
  assert.deepEqual(p.scale, []);
  assert.deepEqual(
    { ...p.status, conditions: undefined },
    {
      observedGeneration: 2,
      replicas: 4,
      updatedReplicas: 4,
      readyReplicas: 4,
      availableReplicas: 4,
      unavailableReplicas: 0,
      conditions: undefined,
    },
  );
  assert.deepEqual(
    p.status.conditions.map((c: Obj) => [c.type, c.status, c.reason]),
    [
      ['Available', 'True', 'MinimumReplicasAvailable'],
      ['Progressing', 'True', 'NewReplicaSetAvailable'],
    ],
  );
});

test(
  'undo reuses the old ReplicaSet with a new revision; ' + 'history beyond the limit goes; Recreate empties old first',
  () => {
    const v1 = deploy('busybox:1'),
      v2 = deploy('busybox:2');
    const h1 = templateHash(v1.spec.template),
      h2 = templateHash(v2.spec.template);
    assert.equal(
      templateHash({ ...v1.spec.template, metadata: { ...v1.spec.template.metadata, creationTimestamp: null } }),
      h1,
      'nulls do not change the hash',
    );
    const both = [
      ownedRs(v1, `web-${h1}`, 0, 0, 1, '2026-11-22T00:00:00Z'),
      ownedRs(v2, `web-${h2}`, 4, 4, 2, '2026-11-22T00:01:00Z'),
    ];
    const p = planDeployment(v1, both, T0);
    assert.equal(p.create, undefined);
    assert.equal(p.revision, '3');
    assert.deepEqual(p.scale.find((s) => s.name === `web-${h1}`)?.annotations?.[REVISION], '3');
    const limited = planDeployment(deploy('busybox:2', { spec: { revisionHistoryLimit: 0 } }), both, T0);
    assert.deepEqual(limited.remove, [`web-${h1}`]);
    const rec = deploy('busybox:2', { spec: { strategy: { type: 'Recreate' } } });
    const r1 = planDeployment(rec, [ownedRs(v1, `web-${h1}`, 4, 4, 1, '2026-11-22T00:00:00Z')], T0);
    assert.equal(r1.create?.spec.replicas, 0, 'Recreate starts the new set empty while old pods run');
  },
);

test('a rollout that makes no progress past progressDeadlineSeconds is reported', () => {
  const v2 = deploy('busybox:2', { spec: { progressDeadlineSeconds: 60 } });
  const h2 = templateHash(v2.spec.template);
  const stuck = [ownedRs(v2, `web-${h2}`, 4, 0, 1, '2026-11-22T00:00:00Z')];
  v2.status = {
    replicas: 4,
    updatedReplicas: 4,
    availableReplicas: 0,
    readyReplicas: 0,
    conditions: [
      {
        type: 'Progressing',
        status: 'True',
        reason: 'ReplicaSetUpdated',
        lastUpdateTime: '2026-11-22T00:00:00Z',
        lastTransitionTime: '2026-11-22T00:00:00Z',
      },
    ],
  };
  const p = planDeployment(v2, stuck, T0 + 120_000);
  const prog = p.status.conditions.find((c: Obj) => c.type === 'Progressing');
  assert.deepEqual([prog.status, prog.reason], ['False', 'ProgressDeadlineExceeded']);
});

test('endpoints: named ports per pod, readiness conditions, slices of at most 100, minimal updates', () => {
  const svc = {
    metadata: { name: 's', namespace: 'ns', uid: 'svc1' },
    spec: { selector: { app: 'a' }, ports: [{ name: 'http', port: 80, targetPort: 'web' }] },
  };
  const pods = [
    pod('p1', { ip: '10.0.0.1', node: 'n1', status: ready(), ports: [{ name: 'web', containerPort: 8080 }] }),
    pod('p2', {
      ip: '10.0.0.2',
      node: 'n2',
      status: { phase: 'Running' },
      ports: [{ name: 'web', containerPort: 9090 }],
    }),
    pod('p3', { ip: '10.0.0.3', status: ready(), deleting: true, ports: [{ name: 'web', containerPort: 8080 }] }),
    pod('noport', { ip: '10.0.0.4', status: ready() }),
    pod('noip', { status: ready(), ports: [{ name: 'web', containerPort: 8080 }] }),
  ];
  const nodes = new Map([['n1', { metadata: { name: 'n1', labels: { 'topology.kubernetes.io/zone': 'z1' } } }]]);
  const groups = endpointGroups(svc, pods as Pod[], nodes);
  assert.deepEqual(
    groups.map((g) => [
      g.ports[0].port,
      g.endpoints.map((e) => [
        e.addresses[0],
        e.conditions?.ready,
        e.conditions?.serving,
        e.conditions?.terminating,
        e.zone ?? '',
      ]),
    ]),
    [
      [
        8080,
        [
          ['10.0.0.1', true, true, false, 'z1'],
          ['10.0.0.3', false, true, true, ''],
        ],
      ],
      [9090, [['10.0.0.2', false, false, false, '']]],
    ],
  );
  assert.deepEqual(
    endpointsSubsets(groups).map((s) => [
      s.addresses?.map((a: Obj) => a.ip),
      s.notReadyAddresses?.map((a: Obj) => a.ip),
    ]),
    [
      [['10.0.0.1'], ['10.0.0.3']],
      [undefined, ['10.0.0.2']],
    ],
  );
  const many = Array.from({ length: 250 }, (_, i) =>
    pod(`m${String(i).padStart(3, '0')}`, {
      ip: `10.1.${i >> 8}.${i & 255}`,
      status: ready(),
      ports: [{ name: 'web', containerPort: 8080 }],
    }),
  );
  const want = desiredSlices(svc, endpointGroups(svc, many as Pod[], new Map()));
  assert.deepEqual(
    want.map((s) => s.endpoints.length),
    [100, 100, 50],
  );
  const first = planSlices(svc, [], want);
  assert.equal(first.create.length, 3);
  const existing = first.create.map((s, i) => ({ ...s, metadata: { ...s.metadata, name: `s-${i}` } }));
  const again = planSlices(svc, existing, want);
  assert.deepEqual(
    [again.create.length, again.update.length, again.remove.length],
    [0, 0, 0],
    'nothing changed, nothing written',
  );
  const fewer = planSlices(svc, existing, want.slice(0, 2));
  assert.deepEqual(fewer.remove, ['s-2']);
});

test('garbage collection: orphans of gone owners, foreground and orphan propagation', () => {
  const kinds = new Set(['ReplicaSet', 'Pod', 'Deployment']);
  const o = (kind: string, uid: string, owners: string[] = [], extra: Obj = {}) => ({
    kind,
    metadata: {
      name: uid,
      namespace: 'ns',
      uid,
      ownerReferences: owners.map((u) => ({
        apiVersion: 'apps/v1',
        uid: u,
        kind: 'ReplicaSet',
        name: u,
        blockOwnerDeletion: true,
      })),
      ...extra,
    },
  });
  let p = planGc([o('Pod', 'p1', ['rs-gone']), o('Pod', 'p2', ['rs1']), o('ReplicaSet', 'rs1')], kinds);
  assert.deepEqual(
    p.remove.map((x) => x.metadata.uid),
    ['p1'],
  );
  p = planGc(
    [
      o('Pod', 'p2', ['rs1']),
      o('ReplicaSet', 'rs1', [], { deletionTimestamp: 'x', finalizers: ['foregroundDeletion'] }),
    ],
    kinds,
  );
  assert.deepEqual([p.remove.map((x) => x.metadata.uid), p.finalize.length], [['p2'], 0], 'dependents first');
  // A Deployment deleted in the foreground: its ReplicaSet (which owns a pod) goes in the foreground
  // too, so the Deployment keeps its finalizer until the pod is gone from the store.
  const dep = o('Deployment', 'd1', [], { deletionTimestamp: 'x', finalizers: ['foregroundDeletion'] });
  p = planGc([dep, o('ReplicaSet', 'rs1', ['d1']), o('Pod', 'p2', ['rs1'])], kinds);
  assert.deepEqual(
    [p.remove.map((x) => x.metadata.uid), [...p.foreground].map((x) => x.metadata.uid), p.finalize.length],
    [['rs1'], ['rs1'], 0],
  );
  const rsGoing = o('ReplicaSet', 'rs1', ['d1'], { deletionTimestamp: 'x', finalizers: ['foregroundDeletion'] });
  p = planGc([dep, rsGoing, o('Pod', 'p2', ['rs1'], { deletionTimestamp: 'y' })], kinds);
  assert.equal(p.finalize.length, 0, 'a terminating pod still blocks the ReplicaSet, which blocks the Deployment');
  p = planGc([dep, rsGoing], kinds);
  assert.deepEqual(
    p.finalize.map((f) => f.owner.metadata.uid),
    ['rs1'],
  );
  p = planGc([o('ReplicaSet', 'rs1', [], { deletionTimestamp: 'x', finalizers: ['foregroundDeletion'] })], kinds);
  assert.deepEqual(
    p.finalize.map((f) => f.finalizer),
    ['foregroundDeletion'],
  );
  p = planGc(
    [o('Pod', 'p2', ['rs1']), o('ReplicaSet', 'rs1', [], { deletionTimestamp: 'x', finalizers: ['orphan'] })],
    kinds,
  );
  assert.deepEqual([p.remove.length, p.orphan.map((x) => x.dependent.metadata.uid)], [0, ['p2']]);
  const foreign = {
    kind: 'Pod',
    metadata: {
      name: 'f',
      namespace: 'ns',
      uid: 'f',
      ownerReferences: [{ apiVersion: 'example.com/v1', uid: 'x', kind: 'SomeCRD', name: 'x' }],
    },
  };
  assert.equal(planGc([foreign], kinds).remove.length, 0, 'owners of kinds not watched are not judged');
});

test('DaemonSet plans: eligible nodes, extras and ineligible pods go, rolling within maxUnavailable', async () => {
  const { planDaemonSet, REVISION_LABEL } = await import('../../controlplane/controllers/daemonset.ts');
  const ds: Obj = {
    metadata: { name: 'd', namespace: 'ns', uid: 'ds1', generation: 1 },
    spec: {
      selector: { matchLabels: { app: 'd' } },
      template: {
        metadata: { labels: { app: 'd' } },
        spec: { nodeSelector: { role: 'edge' }, containers: [{ name: 'c', image: 'x' }] },
      },
    },
  };
  const node = (name: string, labels: Record<string, string>, taints: Taint[] = []) => ({
    metadata: { name, labels },
    spec: { taints },
  });
  const nodes = [
    node('a', { role: 'edge' }),
    node('b', { role: 'edge' }, [{ key: 'k', effect: 'NoSchedule' }]),
    node('c', { role: 'core' }),
    node('d', { role: 'edge' }, [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }]),
  ];
  const hash = templateHash(ds.spec.template);
  const dpod = (name: string, n: string, h = hash, st: Obj = ready()) => ({
    ...pod(name, { owner: 'ds1', node: n, status: st }),
    metadata: {
      ...pod(name, { owner: 'ds1', node: n }).metadata,
      ownerReferences: [{ uid: 'ds1', controller: true }],
      labels: { app: 'd', [REVISION_LABEL]: h },
    },
  });
  const p = planDaemonSet(
    ds,
    nodes,
    [dpod('on-c', 'c'), dpod('a1', 'a'), dpod('a2', 'a', hash, { phase: 'Running' })],
    T0,
  );
  assert.deepEqual(
    p.create.map((x) => x.spec.nodeName),
    ['d'],
    'b has an untolerated taint, c does not match, d is tolerated by every daemon pod',
  );
  assert.deepEqual(p.remove.map((x) => x.metadata.name).sort(), ['a2', 'on-c']);
  assert.equal(p.status.desiredNumberScheduled, 2);
  const roll = planDaemonSet(ds, [nodes[0], nodes[3]], [dpod('a1', 'a', 'old'), dpod('d1', 'd', 'old')], T0);
  assert.equal(roll.remove.length, 1, 'one at a time (maxUnavailable 1)');
});

test('Job plans: parallelism, completions, Indexed, backoff limit, deadline, TTL', async () => {
  const { planJob, formatIndexes } = await import('../../controlplane/controllers/job.ts');
  assert.equal(formatIndexes([4, 0, 1, 2, 6, 7]), '0-2,4,6-7');
  const job = (spec: Obj, status: Obj = {}): Obj => ({
    metadata: { name: 'j', namespace: 'ns', uid: 'j1' },
    spec: { template: { metadata: { labels: {} }, spec: { containers: [{ name: 'c' }] } }, ...spec },
    status,
  });
  const jp = (name: string, phase: string, idx?: number) => ({
    ...pod(name, { status: { phase } }),
    metadata: {
      ...pod(name).metadata,
      ownerReferences: [{ uid: 'j1', controller: true }],
      annotations: idx === undefined ? {} : { 'batch.kubernetes.io/job-completion-index': String(idx) },
    },
  });
  let p = planJob(job({ completions: 5, parallelism: 2 }), [jp('s1', 'Succeeded'), jp('r1', 'Running')], T0);
  assert.deepEqual([p.create.length, p.status.succeeded, p.status.active], [1, 1, 1]);
  p = planJob(job({ completions: 2, parallelism: 2 }), [jp('s1', 'Succeeded'), jp('s2', 'Succeeded')], T0);
  assert.equal(p.status.conditions.at(-1).type, 'Complete');
  p = planJob(job({ completions: 3, parallelism: 3, completionMode: 'Indexed' }), [jp('i1', 'Succeeded', 1)], T0);
  assert.deepEqual(
    p.create.map((x) => x.metadata.annotations['batch.kubernetes.io/job-completion-index']),
    ['0', '2'],
  );
  assert.equal(p.status.completedIndexes, '1');
  p = planJob(job({ backoffLimit: 1 }), [jp('f1', 'Failed'), jp('f2', 'Failed')], T0);
  assert.equal(p.status.conditions.at(-1).reason, 'BackoffLimitExceeded');
  p = planJob(
    job({ activeDeadlineSeconds: 10 }, { startTime: '2026-11-22T00:00:00Z' }),
    [jp('r', 'Running')],
    T0 + 11_000,
  );
  assert.deepEqual([p.status.conditions.at(-1).reason, p.remove.length], ['DeadlineExceeded', 1]);
  p = planJob(
    job(
      { ttlSecondsAfterFinished: 5 },
      { completionTime: '2026-11-22T00:00:00Z', conditions: [{ type: 'Complete', status: 'True' }] },
    ),
    [],
    T0 + 6_000,
  );
  assert.equal(p.deleteJob, true);
});

test('cron schedules and CronJob plans', async () => {
  const { parseCron, scheduledBetween, nextAfter } = await import('../../controlplane/controllers/cron.ts');
  const { planCronJob } = await import('../../controlplane/controllers/cronjob.ts');
  const at = (s: string) => Date.parse(s);
  assert.equal(
    new Date(nextAfter(parseCron('*/15 * * * *'), at('2026-11-22T10:07:30Z'))!).toISOString(),
    '2026-11-22T10:15:00.000Z',
  );
  assert.equal(
    new Date(nextAfter(parseCron('0 9 * * mon-fri'), at('2026-11-21T10:00:00Z'))!).toISOString(),
    '2026-11-23T09:00:00.000Z',
    'Saturday → Monday',
  );
  assert.equal(
    new Date(nextAfter(parseCron('@monthly'), at('2026-11-22T00:00:00Z'))!).toISOString(),
    '2026-12-01T00:00:00.000Z',
  );
  assert.deepEqual(
    scheduledBetween(parseCron('0 * * * *'), at('2026-11-22T08:30:00Z'), at('2026-11-22T10:00:00Z')).map((t) =>
      new Date(t).toISOString().slice(11, 16),
    ),
    ['09:00', '10:00'],
  );
  assert.throws(() => parseCron('61 * * * *'), /out of range/);
  assert.throws(() => parseCron('* * *'), /expected 5 fields/);
  const cj = (spec: Obj, status: Obj = {}) => ({
    metadata: { name: 'c', namespace: 'ns', uid: 'c1', creationTimestamp: '2026-11-22T09:58:30Z' },
    spec: { schedule: '* * * * *', jobTemplate: { spec: {} }, ...spec },
    status,
  });
  const now = at('2026-11-22T10:00:10Z');
  let p = planCronJob(cj({}), [], now);
  assert.equal(p.create?.metadata.name, `c-${Math.floor(at('2026-11-22T10:00:00Z') / 60_000)}`);
  const running = {
    metadata: {
      name: 'c-1',
      namespace: 'ns',
      uid: 'x',
      ownerReferences: [{ uid: 'c1', controller: true, kind: 'CronJob' }],
    },
    status: {},
  };
  p = planCronJob(cj({ concurrencyPolicy: 'Forbid' }), [running], now);
  assert.equal(p.create, undefined);
  p = planCronJob(cj({ concurrencyPolicy: 'Replace' }), [running], now);
  assert.deepEqual([!!p.create, p.remove.map((j) => j.metadata.name)], [true, ['c-1']]);
  p = planCronJob(cj({ startingDeadlineSeconds: 5 }), [], now);
  assert.equal(p.create, undefined, 'too late to start');
  assert.equal(planCronJob(cj({ suspend: true }), [], now).create, undefined);
  const done = (completionTime?: string) => ({
    ...running,
    status: {
      conditions: [{ type: 'Complete', status: 'True' }],
      ...(completionTime ? { completionTime } : {}),
    },
  });
  assert.equal(planCronJob(cj({ suspend: true }), [done()], now).status.lastSuccessfulTime, undefined, 'no time');
  assert.equal(
    planCronJob(cj({ suspend: true }), [done('2026-11-22T09:59:30Z')], now).status.lastSuccessfulTime,
    '2026-11-22T09:59:30Z',
  );
});

test('node health: taints follow Ready; evictions honour tolerationSeconds', async () => {
  const { nodeTaints, evictions, UNREACHABLE } = await import('../../controlplane/controllers/node-lifecycle.ts');
  const n = (ready: 'True' | 'False' | 'Unknown', taints: Taint[] = []) => ({
    metadata: { name: 'n' },
    spec: { taints },
    status: { conditions: [{ type: 'Ready', status: ready }] },
  });
  assert.deepEqual(nodeTaints(n('Unknown', [{ key: 'mine', effect: 'NoSchedule' }]), T0), [
    { key: 'mine', effect: 'NoSchedule' },
    { key: UNREACHABLE, effect: 'NoExecute', timeAdded: '2026-11-22T00:00:00Z' },
  ]);
  assert.equal(nodeTaints(n('True'), T0), null);
  assert.deepEqual(nodeTaints(n('True', [{ key: UNREACHABLE, effect: 'NoExecute' }]), T0), []);
  const tainted = n('Unknown', [{ key: UNREACHABLE, effect: 'NoExecute', timeAdded: '2026-11-22T00:00:00Z' }]);
  const pods: { metadata: ObjectMeta; spec: { tolerations?: Toleration[] } }[] = [
    { metadata: pod('plain').metadata, spec: {} },
    {
      metadata: pod('patient').metadata,
      spec: { tolerations: [{ key: UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 600 }] },
    },
    { metadata: pod('forever').metadata, spec: { tolerations: [{ operator: 'Exists' }] } },
  ];
  assert.deepEqual(
    evictions(tainted, pods, T0 + 10_000, 300).map((p) => p.metadata.name),
    [],
  );
  assert.deepEqual(
    evictions(tainted, pods, T0 + 301_000, 300).map((p) => p.metadata.name),
    ['plain'],
  );
  assert.deepEqual(
    evictions(tainted, pods, T0 + 601_000, 300).map((p) => p.metadata.name),
    ['plain', 'patient'],
  );
});

test('StatefulSet plans: claims first, ordered creation, reverse scale-down, partitioned rolling update', async () => {
  const { planStatefulSet } = await import('../../controlplane/controllers/statefulset.ts');
  const { REVISION_LABEL } = await import('../../controlplane/controllers/daemonset.ts');
  const sts = (replicas: number, extra: Obj = {}): Obj => ({
    metadata: { name: 'web', namespace: 'ns', uid: 's1', generation: 1 },
    spec: {
      replicas,
      serviceName: 'web',
      selector: { matchLabels: { app: 'w' } },
      template: { metadata: { labels: { app: 'w' } }, spec: { containers: [{ name: 'c', image: 'x' }] } },
      volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: {} }],
      ...extra,
    },
  });
  const rev = `web-${templateHash(sts(1).spec.template)}`;
  const sp = (i: number, st: Obj = ready(), r = rev) => ({
    metadata: {
      name: `web-${i}`,
      namespace: 'ns',
      uid: `u${i}`,
      labels: { app: 'w', [REVISION_LABEL]: r },
      ownerReferences: [{ uid: 's1', controller: true }],
    },
    spec: {},
    status: st,
  });
  let p = planStatefulSet(sts(3), [], new Set());
  assert.deepEqual(
    p.claims.map((c) => c.metadata.name),
    ['data-web-0', 'data-web-1', 'data-web-2'],
  );
  const all = new Set(['data-web-0', 'data-web-1', 'data-web-2']);
  p = planStatefulSet(sts(3), [sp(0, { phase: 'Pending' })], all);
  assert.deepEqual(p.create.length, 0, 'web-1 waits for web-0 to be Ready');
  p = planStatefulSet(sts(3), [sp(0)], all);
  assert.deepEqual(
    p.create.map((x) => [
      x.metadata.name,
      x.spec.hostname,
      x.spec.subdomain,
      x.spec.volumes[0].persistentVolumeClaim.claimName,
    ]),
    [['web-1', 'web-1', 'web', 'data-web-1']],
  );
  p = planStatefulSet(sts(3, { podManagementPolicy: 'Parallel' }), [], all);
  assert.equal(p.create.length, 3);
  p = planStatefulSet(sts(1), [sp(0), sp(1), sp(2)], all);
  assert.deepEqual(
    p.remove.map((x) => x.metadata.name),
    ['web-2'],
    'highest ordinal first, one at a time',
  );
  p = planStatefulSet(
    sts(3, { updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 1 } } }),
    [sp(0, ready(), 'old'), sp(1, ready(), 'old'), sp(2, ready(), 'old')],
    all,
  );
  assert.deepEqual(
    p.remove.map((x) => x.metadata.name),
    ['web-2'],
    'reverse order, not below the partition',
  );
});

test(
  'disruption budgets: minAvailable and maxUnavailable (numbers and percentages); ' + 'unready pods may always go',
  async () => {
    const { budgetStatus, blockingBudget } = await import('../../controlplane/controllers/disruption.ts');
    const pdb = (spec: Obj): Obj => ({
      metadata: { name: 'b', namespace: 'ns', generation: 1 },
      spec: { selector: { matchLabels: { app: 'a' } }, ...spec },
    });
    const pods = [
      pod('r1', { status: ready() }),
      pod('r2', { status: ready() }),
      pod('r3', { status: ready() }),
      pod('u', { status: { phase: 'Running' } }),
    ];
    assert.deepEqual(budgetStatus(pdb({ minAvailable: 2 }), pods), {
      observedGeneration: 1,
      currentHealthy: 3,
      desiredHealthy: 2,
      expectedPods: 4,
      disruptionsAllowed: 1,
    });
    assert.equal(budgetStatus(pdb({ minAvailable: '100%' }), pods).disruptionsAllowed, 0);
    assert.equal(budgetStatus(pdb({ maxUnavailable: 1 }), pods).disruptionsAllowed, 0, 'one is already unavailable');
    assert.equal(budgetStatus(pdb({ maxUnavailable: '50%' }), pods).disruptionsAllowed, 1);
    assert.equal(blockingBudget(pods[0], [pdb({ minAvailable: 3 })], pods)?.metadata.name, 'b');
    assert.equal(blockingBudget(pods[3], [pdb({ minAvailable: 3 })], pods), undefined);
  },
);

test('ControllerRevisions: one per template, the returning one moves to the top, history limited', async () => {
  const { planRevisions } = await import('../../controlplane/controllers/controller-revisions.ts');
  const owner: Obj = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'web', namespace: 'ns', uid: 's1' },
    spec: { revisionHistoryLimit: 1, template: { spec: { containers: [{ name: 'c', image: 'v2' }] } } },
  };
  const cr = (hash: string, revision: number) => ({
    metadata: {
      name: `web-${hash}`,
      namespace: 'ns',
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web', uid: 's1', controller: true }],
    },
    revision,
  });
  let p = planRevisions(owner, 'h2', { app: 'w' }, [cr('h1', 1)]);
  assert.deepEqual(
    [p.create?.metadata.name, p.create?.revision, p.create?.data.spec.template.$patch],
    ['web-h2', 2, 'replace'],
  );
  p = planRevisions(owner, 'h1', { app: 'w' }, [cr('h1', 1), cr('h2', 2)]);
  assert.deepEqual([p.create, p.bump], [undefined, { name: 'web-h1', revision: 3 }]);
  p = planRevisions(owner, 'h3', {}, [cr('h1', 1), cr('h2', 2)]);
  assert.deepEqual(p.remove, ['web-h1'], 'revisionHistoryLimit 1 keeps one old revision');
});

test('endpoints carry the hostname of pods whose subdomain is the Service (StatefulSet DNS names)', () => {
  const svc = {
    metadata: { name: 'web', namespace: 'ns', uid: 'svc1' },
    spec: { clusterIP: 'None', selector: { app: 'a' }, ports: [{ port: 80 }] },
  };
  const named = pod('web-0', { ip: '10.0.0.1', status: ready() });
  named.spec.hostname = 'web-0';
  named.spec.subdomain = 'web';
  const elsewhere = pod('other-0', { ip: '10.0.0.2', status: ready() });
  elsewhere.spec.hostname = 'other-0';
  elsewhere.spec.subdomain = 'other';
  const [g] = endpointGroups(svc, [named, elsewhere] as Pod[], new Map());
  assert.deepEqual(
    g.endpoints.map((e) => [e.addresses[0], e.hostname]),
    [
      ['10.0.0.2', undefined],
      ['10.0.0.1', 'web-0'],
    ],
  );
});
