import { test } from 'node:test';
import assert from 'node:assert/strict';
import { humanDuration, podStatus, printerFor, toTable } from '../../controlplane/api/table.ts';

test('ages print as kubectl prints them', () => {
  const s = 1000,
    m = 60 * s,
    h = 60 * m,
    d = 24 * h;
  const cases: [number, string][] = [
    [5 * s, '5s'],
    [119 * s, '119s'],
    [3 * m + 4 * s, '3m4s'],
    [5 * m, '5m'],
    [42 * m, '42m'],
    [4 * h + 3 * m, '4h3m'],
    [30 * h, '30h'],
    [3 * d + 2 * h, '3d2h'],
    [40 * d, '40d'],
    [800 * d, '2y70d'],
  ];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want);
});

test('pod STATUS column', () => {
  const cases: [object, string, string][] = [
    [{ spec: { containers: [{}] }, status: { phase: 'Pending' } }, 'Pending', '0/1'],
    [
      {
        spec: { containers: [{}] },
        status: { phase: 'Pending', containerStatuses: [{ state: { waiting: { reason: 'ContainerCreating' } } }] },
      },
      'ContainerCreating',
      '0/1',
    ],
    [
      {
        spec: { containers: [{}, {}] },
        status: {
          phase: 'Running',
          containerStatuses: [
            { ready: true, state: { running: {} } },
            { ready: true, state: { running: {} } },
          ],
        },
      },
      'Running',
      '2/2',
    ],
    [
      {
        spec: { containers: [{}] },
        status: {
          phase: 'Running',
          containerStatuses: [{ restartCount: 3, state: { waiting: { reason: 'CrashLoopBackOff' } } }],
        },
      },
      'CrashLoopBackOff',
      '0/1',
    ],
    [
      {
        spec: { containers: [{}] },
        status: {
          phase: 'Succeeded',
          containerStatuses: [{ state: { terminated: { exitCode: 0, reason: 'Completed' } } }],
        },
      },
      'Completed',
      '0/1',
    ],
    [
      {
        spec: { initContainers: [{}, {}], containers: [{}] },
        status: {
          phase: 'Pending',
          initContainerStatuses: [{ state: { terminated: { exitCode: 0 } } }, { state: { running: {} } }],
        },
      },
      'Init:1/2',
      '0/1',
    ],
    [
      { metadata: { deletionTimestamp: 'x' }, spec: { containers: [{}] }, status: { phase: 'Running' } },
      'Terminating',
      '0/1',
    ],
  ];
  for (const [pod, status, ready] of cases) {
    const s = podStatus(pod);
    assert.equal(s.status, status);
    assert.equal(s.ready, ready);
  }
});

test('service and deployment rows carry the columns users know', () => {
  const svc = {
    metadata: { name: 'web', creationTimestamp: new Date().toISOString() },
    spec: { type: 'NodePort', clusterIP: '10.96.0.5', ports: [{ port: 80, nodePort: 30080, protocol: 'TCP' }] },
  };
  const t = toTable('Service', 'v1', [svc], { resourceVersion: '1' }, 'Metadata');
  assert.deepEqual(
    t.columnDefinitions.map((c: { name: string }) => c.name),
    ['Name', 'Type', 'Cluster-IP', 'External-IP', 'Port(s)', 'Age', 'Selector'],
  );
  assert.deepEqual(t.rows[0].cells.slice(0, 5), ['web', 'NodePort', '10.96.0.5', '<none>', '80:30080/TCP']);
  assert.equal(t.rows[0].object.kind, 'PartialObjectMetadata');
  assert.deepEqual(
    printerFor('Deployment')
      .columns.filter((c) => c.priority === 0)
      .map((c) => c.name),
    ['Name', 'Ready', 'Up-to-date', 'Available', 'Age'],
  );
  assert.deepEqual(
    printerFor('Node')
      .columns.filter((c) => c.priority === 0)
      .map((c) => c.name),
    ['Name', 'Status', 'Roles', 'Age', 'Version'],
  );
});

test('kinds that run a pod template end in containers, images and selector (wide), as kubectl shows them', () => {
  const template = {
    spec: {
      containers: [
        { name: 'a', image: 'img:1' },
        { name: 'b', image: 'img:2' },
      ],
    },
  };
  const at = new Date().toISOString();
  const rows: [string, object, unknown[]][] = [
    [
      'ReplicaSet',
      { spec: { replicas: 3, selector: { matchLabels: { app: 'x' } }, template }, status: { replicas: 2 } },
      [3, 2, 0],
    ],
    ['ReplicationController', { spec: { replicas: 1, selector: { app: 'x' }, template }, status: {} }, [1, 0, 0]],
    [
      'Deployment',
      { spec: { replicas: 2, selector: { matchLabels: { app: 'x' } }, template }, status: {} },
      ['0/2', 0, 0],
    ],
  ];
  for (const [kind, o, counts] of rows) {
    const t = toTable(kind, 'v1', [{ metadata: { name: 'n', creationTimestamp: at }, ...o }], {}, 'Metadata');
    // biome-ignore lint/suspicious/noExplicitAny: the Table's column definitions as they travel
    const names = t.columnDefinitions.map((c: any) => c.name);
    assert.deepEqual(names.slice(-3), ['Containers', 'Images', 'Selector'], kind);
    const cells = t.rows[0].cells;
    assert.deepEqual(cells.slice(1, 4), counts, kind);
    assert.deepEqual(cells.slice(-3), ['a,b', 'img:1,img:2', 'app=x'], kind);
  }
});
