import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverSideApply, trackUpdate } from '../../controlplane/api/apply.ts';
import { fieldsOf, fromFieldsV1, toFieldsV1 } from '../../controlplane/api/fieldset.ts';
import { Deployment } from '../../controlplane/api/schema/groups.ts';
import { ConfigMap } from '../../controlplane/api/schema/core.ts';
import type { ManagedFieldsEntry } from '../../controlplane/shared/kube/index.ts';

const opts = (manager: string, force = false) => ({
  manager,
  apiVersion: 'apps/v1',
  force,
  now: '2026-01-01T00:00:00Z',
});
const cfg = (replicas: number, image = 'a:1', extraEnv = true) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'd' },
  spec: {
    replicas,
    selector: { matchLabels: { app: 'd' } },
    template: {
      metadata: { labels: { app: 'd' } },
      spec: { containers: [{ name: 'a', image, ...(extraEnv ? { env: [{ name: 'X', value: '1' }] } : {}) }] },
    },
  },
});

test('field sets round-trip through FieldsV1', () => {
  const set = fieldsOf(cfg(1), Deployment);
  assert.ok(set.has(JSON.stringify(['f:spec', 'f:replicas'])));
  assert.ok(set.has(JSON.stringify(['f:spec', 'f:template', 'f:spec', 'f:containers', 'k:{"name":"a"}', 'f:image'])));
  assert.deepEqual(fromFieldsV1(toFieldsV1(set)), set);
});

test('apply creates ownership, re-apply is a no-op, dropped fields are removed', () => {
  const first = serverSideApply({ metadata: {} }, cfg(2), Deployment, opts('alice'));
  assert.equal(first.conflicts.length, 0);
  assert.equal(first.obj.spec.replicas, 2);
  assert.equal(first.obj.metadata.managedFields[0].manager, 'alice');
  assert.equal(first.obj.metadata.managedFields[0].operation, 'Apply');
  const again = serverSideApply(first.obj, cfg(2), Deployment, opts('alice'));
  assert.deepEqual(again.obj.spec, first.obj.spec);
  const dropped = serverSideApply(first.obj, cfg(2, 'a:1', false), Deployment, opts('alice'));
  assert.equal(dropped.obj.spec.template.spec.containers[0].env, undefined, 'env dropped from config is removed');
});

test('a field another manager owns with a different value conflicts unless forced', () => {
  const a = serverSideApply({ metadata: {} }, cfg(2), Deployment, opts('alice')).obj;
  const b = serverSideApply(a, cfg(5), Deployment, opts('bob'));
  assert.deepEqual(
    b.conflicts.map((c) => `${c.manager} ${c.field}`),
    ['alice .spec.replicas'],
  );
  const same = serverSideApply(a, cfg(2), Deployment, opts('bob'));
  assert.equal(same.conflicts.length, 0, 'same value is shared ownership, not a conflict');
  const forced = serverSideApply(a, cfg(5), Deployment, opts('bob', true));
  assert.equal(forced.obj.spec.replicas, 5);
  const alice = forced.obj.metadata.managedFields.find((m: ManagedFieldsEntry) => m.manager === 'alice');
  assert.equal(alice.fieldsV1['f:spec']['f:replicas'], undefined, 'forced field leaves the old owner');
});

test('an update takes ownership of what it changed', () => {
  const a = serverSideApply({ metadata: {} }, cfg(2), Deployment, opts('alice')).obj;
  const next = structuredClone(a);
  next.spec.replicas = 7;
  trackUpdate(a, next, Deployment, { manager: 'kubectl-scale', apiVersion: 'apps/v1', now: 'x' });
  const scale = next.metadata.managedFields.find((m: ManagedFieldsEntry) => m.manager === 'kubectl-scale');
  assert.equal(scale.operation, 'Update');
  assert.deepEqual(scale.fieldsV1, { 'f:spec': { 'f:replicas': {} } });
  const back = serverSideApply(next, cfg(2), Deployment, opts('alice'));
  assert.deepEqual(
    back.conflicts.map((c) => c.manager),
    ['kubectl-scale'],
  );
});

test('maps merge key by key; the applier keeps other managers keys', () => {
  const base = { metadata: { name: 'c' }, data: { a: '1', b: '2' } };
  const live = { ...base, metadata: { name: 'c' } };
  trackUpdate(null, live, ConfigMap, { manager: 'creator', apiVersion: 'v1', now: 'x' });
  const r = serverSideApply(
    live,
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { c: '3' } },
    ConfigMap,
    { ...opts('alice'), apiVersion: 'v1' },
  );
  assert.deepEqual(r.obj.data, { a: '1', b: '2', c: '3' });
});
