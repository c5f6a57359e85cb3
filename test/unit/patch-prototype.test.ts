// Patches, apply and the schema check look keys up as own properties only: names that
// Object.prototype carries (hasOwnProperty, toString, constructor, __proto__) are ordinary keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyJsonPatch, applyMergePatch, strategicMerge, PatchError } from '../../controlplane/api/patch.ts';
import { mergeApplied } from '../../controlplane/api/apply.ts';
import { checkSchema, pruneUnknown, type FieldProblem } from '../../controlplane/api/schema/check.ts';
import { ConfigMap } from '../../controlplane/api/schema/core.ts';

const PROTO_KEYS = ['hasOwnProperty', 'toString', 'constructor', '__proto__', 'valueOf', 'isPrototypeOf'];

test('JSON patch: replace, remove, move and test on a missing inherited name fail', () => {
  const doc = { metadata: { name: 'a' }, data: { k: 'v' } };
  for (const key of PROTO_KEYS) {
    for (const ops of [
      [{ op: 'replace', path: `/data/${key}`, value: 'x' }],
      [{ op: 'remove', path: `/data/${key}` }],
      [{ op: 'move', from: `/data/${key}`, path: '/data/z' }],
      [{ op: 'copy', from: `/data/${key}`, path: '/data/z' }],
      [{ op: 'add', path: `/data/${key}/x`, value: 'x' }],
    ])
      assert.throws(() => applyJsonPatch(doc, ops), PatchError, JSON.stringify(ops));
    // add creates an own property, never touches a prototype
    const out = applyJsonPatch(doc, [{ op: 'add', path: `/data/${key}`, value: 'x' }]);
    assert.ok(Object.hasOwn(out.data, key), key);
    assert.equal(Object.getPrototypeOf(out.data), Object.prototype, key);
    assert.equal(JSON.parse(JSON.stringify(out)).data[key], 'x');
  }
  assert.equal(({} as Record<string, unknown>).x, undefined, 'no global pollution');
});

test('merge and strategic patches keep prototype names as own keys', () => {
  for (const key of PROTO_KEYS) {
    const patch = JSON.parse(`{"data":{"${key}":"x"},"${key}":{"prototype":{"x":1}}}`);
    for (const out of [
      applyMergePatch({ metadata: { name: 'a' } }, patch),
      strategicMerge({ metadata: { name: 'a' } }, patch, ConfigMap),
      mergeApplied({ metadata: { name: 'a' } }, patch, ConfigMap) as Record<string, unknown>,
    ]) {
      assert.equal(Object.getPrototypeOf(out), Object.prototype, key);
      assert.ok(Object.hasOwn(out, key), key);
      assert.equal(JSON.parse(JSON.stringify(out)).data[key], 'x');
    }
    // deleting an inherited name that is not there is a no-op
    const del = applyMergePatch({ data: { a: 'b' } }, JSON.parse(`{"data":{"${key}":null}}`));
    assert.deepEqual(JSON.parse(JSON.stringify(del)), { data: { a: 'b' } });
  }
  assert.equal(({} as Record<string, unknown>).x, undefined, 'no global pollution');
});

test('the schema check calls inherited names unknown, and pruning drops them', () => {
  for (const key of PROTO_KEYS) {
    const body = JSON.parse(`{"metadata":{"name":"a","${key}":1},"${key}":{"prototype":{"x":1}}}`);
    const problems: FieldProblem[] = [];
    checkSchema(body, ConfigMap, '', problems);
    assert.deepEqual(
      problems.map((p) => [p.kind, p.path]),
      [
        ['unknown', `metadata.${key}`],
        ['unknown', key],
      ],
      key,
    );
    const pruned = pruneUnknown(body, ConfigMap) as Record<string, unknown>;
    assert.ok(!Object.hasOwn(pruned, key));
    assert.ok(!Object.hasOwn(pruned.metadata as object, key));
  }
});
