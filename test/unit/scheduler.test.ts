// The scheduler's filters and scores as tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeInfo, schedule, podRequests, tolerates } from '../../controlplane/scheduler/algorithm.ts';
import type { NamedNode } from '../../controlplane/scheduler/algorithm.ts';
import type { ObjectMeta, Pod, PodSpec, Taint, Toleration } from '../../controlplane/shared/kube/index.ts';

const node = (
  name: string,
  o: {
    cpu?: string;
    memory?: string;
    pods?: string;
    labels?: Record<string, string>;
    taints?: Taint[];
    unschedulable?: boolean;
    ready?: boolean;
  } = {},
): NamedNode => ({
  metadata: { name, labels: { 'kubernetes.io/hostname': name, ...(o.labels ?? {}) } },
  spec: { ...(o.taints ? { taints: o.taints } : {}), ...(o.unschedulable ? { unschedulable: true } : {}) },
  status: {
    allocatable: { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi', pods: o.pods ?? '110' },
    conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
  },
});
const pod = (name: string, spec: Partial<PodSpec> = {}, meta: Partial<ObjectMeta> = {}): Pod => ({
  metadata: { name, namespace: 'default', ...meta },
  spec: { containers: [{ name: 'c', image: 'x' }], ...spec },
});
const withReq = (cpu: string, memory = '0') => ({
  containers: [{ name: 'c', image: 'x', resources: { requests: { cpu, memory } } }],
});

test('requests: the larger of the init containers and the sum of the app containers', () => {
  assert.deepEqual(
    podRequests({
      spec: {
        containers: [
          { name: 'a', resources: { requests: { cpu: '100m', memory: '64Mi' } } },
          { name: 'b', resources: { limits: { cpu: '1' } } },
        ],
        initContainers: [{ name: 'i', resources: { requests: { cpu: '2' } } }],
      },
    }),
    { cpu: 2, memory: 64 * 1024 ** 2 },
  );
});

test('tolerations: key, value, operator and effect', () => {
  const t: Taint = { key: 'k', value: 'v', effect: 'NoSchedule' };
  const cases: [Toleration[] | undefined, boolean][] = [
    [undefined, false],
    [[{ key: 'k', operator: 'Equal', value: 'v' }], true],
    [[{ key: 'k', operator: 'Equal', value: 'w' }], false],
    [[{ key: 'k', operator: 'Exists' }], true],
    [[{ operator: 'Exists' }], true],
    [[{ key: 'k', operator: 'Exists', effect: 'NoExecute' }], false],
  ];
  for (const [tol, want] of cases) assert.equal(tolerates(tol, t), want, JSON.stringify(tol));
});

test('filters explain every node they reject', () => {
  const nodes = [
    node('cordoned', { unschedulable: true }),
    node('tainted', { labels: { zone: 'a' }, taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] }),
    node('small', { labels: { zone: 'a' }, cpu: '1' }),
    node('down', { ready: false }),
    node('wrong-zone', { labels: { zone: 'b' } }),
  ];
  const d = schedule(
    pod('p', { ...withReq('2'), nodeSelector: { zone: 'a' } }),
    nodes.map((n) => nodeInfo(n)),
  );
  assert.equal(d.node, undefined);
  assert.equal(
    d.message,
    "0/5 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector, 1 " +
      'node(s) had untolerated taint {dedicated: db}, 1 node(s) were not ready, 1 node(s) were unschedulable.',
  );
});

test('placement: fits, tolerations, affinity, host ports, anti-affinity, spreading and least allocated', () => {
  const busy = nodeInfo(node('busy'), [pod('a', withReq('3'))]);
  const idle = nodeInfo(node('idle'));
  assert.equal(schedule(pod('p', withReq('500m')), [busy, idle]).node, 'idle', 'least allocated');
  assert.equal(
    schedule(pod('p', withReq('2')), [busy, nodeInfo(node('tiny', { cpu: '1' }))]).message,
    '0/2 nodes are available: 2 Insufficient cpu.',
  );
  const tainted = nodeInfo(node('t', { taints: [{ key: 'gpu', effect: 'NoSchedule' }] }));
  assert.equal(schedule(pod('p', { tolerations: [{ key: 'gpu', operator: 'Exists' }] }), [tainted]).node, 't');
  const affinity: Partial<PodSpec> = {
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] }],
        },
      },
    },
  };
  assert.equal(schedule(pod('p', affinity), [idle, nodeInfo(node('fast', { labels: { disk: 'ssd' } }))]).node, 'fast');
  const preferred: Partial<PodSpec> = {
    affinity: {
      nodeAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 50, preference: { matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] } },
        ],
      },
    },
  };
  assert.equal(
    schedule(pod('p', preferred), [nodeInfo(node('a-plain')), nodeInfo(node('z-fast', { labels: { disk: 'ssd' } }))])
      .node,
    'z-fast',
  );
  const hp: Partial<PodSpec> = {
    containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 80, hostPort: 8080 }] }],
  };
  assert.equal(schedule(pod('p', hp), [nodeInfo(node('n1'), [pod('q', hp)]), nodeInfo(node('n2'))]).node, 'n2');
  const anti: Partial<PodSpec> = {
    affinity: {
      podAntiAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [
          { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'db' } } },
        ],
      },
    },
  };
  const d = schedule(pod('p', anti, { labels: { app: 'db' } }), [
    nodeInfo(node('n1'), [pod('db-0', {}, { labels: { app: 'db' } })]),
  ]);
  assert.match(d.message ?? '', /didn't match pod anti-affinity rules/);
  const owner = {
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'rs1', controller: true }],
  };
  const spread = schedule(pod('p', {}, owner), [
    nodeInfo(node('a'), [pod('x', {}, owner)]),
    nodeInfo(node('b'), [pod('y', {})]),
  ]);
  assert.equal(spread.node, 'b', "an owner's pods spread over nodes");
  assert.equal(schedule(pod('p', { nodeName: 'b' }), [idle, nodeInfo(node('b'))]).node, 'b');
  assert.equal(
    schedule(pod('p'), [nodeInfo(node('full', { pods: '1' }), [pod('x')])]).message,
    '0/1 nodes are available: 1 Too many pods.',
  );
});
