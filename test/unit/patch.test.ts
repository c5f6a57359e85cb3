import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyJsonPatch, applyMergePatch, strategicMerge, PatchError } from '../../controlplane/api/patch.ts';
import { Deployment } from '../../controlplane/api/schema/groups.ts';
import { Service } from '../../controlplane/api/schema/core.ts';
import type { Container } from '../../controlplane/shared/kube/index.ts';

test('JSON patch (RFC 6902) operations', () => {
  const doc = { a: 1, list: [1, 2, 3], o: { x: 'y' } };
  const cases: [unknown[], unknown][] = [
    [[{ op: 'add', path: '/b', value: 2 }], { a: 1, b: 2, list: [1, 2, 3], o: { x: 'y' } }],
    [[{ op: 'add', path: '/list/1', value: 9 }], { a: 1, list: [1, 9, 2, 3], o: { x: 'y' } }],
    [[{ op: 'add', path: '/list/-', value: 4 }], { a: 1, list: [1, 2, 3, 4], o: { x: 'y' } }],
    [[{ op: 'remove', path: '/o/x' }], { a: 1, list: [1, 2, 3], o: {} }],
    [[{ op: 'replace', path: '/a', value: 5 }], { a: 5, list: [1, 2, 3], o: { x: 'y' } }],
    [[{ op: 'move', from: '/a', path: '/o/a' }], { list: [1, 2, 3], o: { x: 'y', a: 1 } }],
    [[{ op: 'copy', from: '/o', path: '/p' }], { a: 1, list: [1, 2, 3], o: { x: 'y' }, p: { x: 'y' } }],
    [
      [
        { op: 'test', path: '/a', value: 1 },
        { op: 'remove', path: '/list' },
      ],
      { a: 1, o: { x: 'y' } },
    ],
    [[{ op: 'add', path: '/o/a~1b', value: 1 }], { a: 1, list: [1, 2, 3], o: { x: 'y', 'a/b': 1 } }],
  ];
  for (const [ops, want] of cases) assert.deepEqual(applyJsonPatch(doc, ops), want, JSON.stringify(ops));
  for (const bad of [
    [{ op: 'remove', path: '/nope' }],
    [{ op: 'test', path: '/a', value: 2 }],
    [{ op: 'replace', path: '/list/7', value: 1 }],
    [{ op: 'frob', path: '/a' }],
    { op: 'add' },
  ]) {
    assert.throws(() => applyJsonPatch(doc, bad), PatchError, JSON.stringify(bad));
  }
  assert.deepEqual(doc, { a: 1, list: [1, 2, 3], o: { x: 'y' } }, 'input untouched');
});

test('JSON merge patch (RFC 7386)', () => {
  assert.deepEqual(applyMergePatch({ a: 'b', c: { d: 'e', f: 'g' } }, { a: 'z', c: { f: null } }), {
    a: 'z',
    c: { d: 'e' },
  });
  assert.deepEqual(applyMergePatch({ a: [1, 2] }, { a: [3] }), { a: [3] });
  assert.deepEqual(applyMergePatch({ a: 1 }, { b: { c: null } }), { a: 1, b: {} });
});

const deploy = {
  spec: {
    replicas: 1,
    template: {
      spec: {
        containers: [
          {
            name: 'a',
            image: 'a:1',
            env: [
              { name: 'X', value: '1' },
              { name: 'Y', value: '2' },
            ],
            ports: [{ containerPort: 80, protocol: 'TCP' }],
          },
          { name: 'b', image: 'b:1' },
        ],
      },
    },
  },
  metadata: { finalizers: ['f1'] },
};

test('strategic merge patch merges lists by their merge keys', () => {
  const out = strategicMerge(
    deploy,
    {
      spec: {
        template: {
          spec: {
            containers: [
              { name: 'b', image: 'b:2' },
              { name: 'c', image: 'c:1' },
            ],
          },
        },
      },
    },
    Deployment,
  );
  assert.deepEqual(
    out.spec.template.spec.containers.map((c: Container) => `${c.name}=${c.image}`),
    ['a=a:1', 'b=b:2', 'c=c:1'],
  );
  assert.equal(out.spec.template.spec.containers[0].env.length, 2, 'untouched container keeps its env');
});

test('strategic merge patch directives: delete, replace, setElementOrder, deleteFromPrimitiveList, retainKeys', () => {
  const del = strategicMerge(
    deploy,
    { spec: { template: { spec: { containers: [{ name: 'a', env: [{ name: 'X', $patch: 'delete' }] }] } } } },
    Deployment,
  );
  assert.deepEqual(del.spec.template.spec.containers[0].env, [{ name: 'Y', value: '2' }]);
  const rep = strategicMerge(
    deploy,
    { spec: { template: { spec: { containers: [{ name: 'z', image: 'z' }, { $patch: 'replace' }] } } } },
    Deployment,
  );
  assert.deepEqual(rep.spec.template.spec.containers, [{ name: 'z', image: 'z' }]);
  const order = strategicMerge(
    deploy,
    { spec: { template: { spec: { '$setElementOrder/containers': [{ name: 'b' }, { name: 'a' }] } } } },
    Deployment,
  );
  assert.deepEqual(
    order.spec.template.spec.containers.map((c: Container) => c.name),
    ['b', 'a'],
  );
  const prim = strategicMerge(deploy, { metadata: { '$deleteFromPrimitiveList/finalizers': ['f1'] } }, Deployment);
  assert.deepEqual(prim.metadata.finalizers, []);
  const merged = strategicMerge(deploy, { metadata: { finalizers: ['f2'] } }, Deployment);
  assert.deepEqual(merged.metadata.finalizers, ['f1', 'f2'], 'finalizers are a merged set');
  const retain = strategicMerge(
    { spec: { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } } } },
    { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } },
    Deployment,
  );
  assert.deepEqual(retain.spec.strategy, { type: 'Recreate' });
  const nullDel = strategicMerge(deploy, { spec: { replicas: null } }, Deployment);
  assert.equal('replicas' in nullDel.spec, false);
});

test('strategic merge patch on Service ports keys by port', () => {
  const svc = {
    spec: {
      ports: [
        { port: 80, name: 'http', targetPort: 8080 },
        { port: 443, name: 'https' },
      ],
    },
  };
  const out = strategicMerge(svc, { spec: { ports: [{ port: 80, targetPort: 9090 }] } }, Service);
  assert.deepEqual(out.spec.ports, [
    { port: 80, name: 'http', targetPort: 9090 },
    { port: 443, name: 'https' },
  ]);
  assert.throws(() => strategicMerge(svc, { spec: { ports: [{ name: 'x' }] } }, Service), /merge key/);
});
