// Validation ratcheting (controlplane/api/ratchet.ts) as a pure function: which causes of an
// update are let pass because the stored object had them and the value is untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fieldSteps, ratchet } from '../../controlplane/api/ratchet.ts';
import type { Cause } from '../../controlplane/api/status.ts';

test('ratchet: field paths are read step by step, or not at all', () => {
  const cases: [string, (string | number)[] | null][] = [
    ['spec.podCIDR', ['spec', 'podCIDR']],
    ['status.addresses[1].address', ['status', 'addresses', 1, 'address']],
    ["metadata.annotations['skiff.io/vtep-mac']", ['metadata', 'annotations', 'skiff.io/vtep-mac']],
    ['data[tls.crt]', ['data', 'tls.crt']],
    [
      'spec.template.spec.containers[0].ports[2].hostPort',
      ['spec', 'template', 'spec', 'containers', 0, 'ports', 2, 'hostPort'],
    ],
    ['', null],
    ['.spec', null],
    ["metadata.annotations['unclosed", null],
  ];
  for (const [path, want] of cases) assert.deepEqual(fieldSteps(path), want, path);
});

const cause = (field: string, message = 'Invalid value: "x": bad'): Cause => ({
  field,
  reason: 'FieldValueInvalid',
  message,
});

test('ratchet: a cause passes only when the stored object had it and its value is untouched', () => {
  const node = {
    metadata: { name: 'n1', annotations: { 'skiff.io/public-ip': 'x' } },
    spec: { podCIDR: 'x' },
    status: { conditions: [] as unknown[] },
  };
  const ann = cause("metadata.annotations['skiff.io/public-ip']");
  const cidr = cause('spec.podCIDR');
  const rows: [string, object, Cause[], Cause[], Cause[]][] = [
    // [what, next object, next's causes, stored object's causes, refused]
    [
      'a status write, bad annotation untouched',
      { ...node, status: { conditions: [{ type: 'Ready' }] } },
      [ann],
      [ann],
      [],
    ],
    ['a new cause', node, [ann, cause('spec.podCIDRs[0]')], [ann], [cause('spec.podCIDRs[0]')]],
    [
      'the same message for another value',
      { ...node, metadata: { ...node.metadata, annotations: { 'skiff.io/public-ip': 'y' } } },
      [ann],
      [ann],
      [ann],
    ],
    ['spec untouched', { ...node, metadata: { ...node.metadata, labels: { a: 'b' } } }, [cidr], [cidr], []],
    // Rules under spec compare fields with each other: anything changed in spec re-checks all of it.
    ['spec changed elsewhere', { ...node, spec: { podCIDR: 'x', unschedulable: true } }, [cidr], [cidr], [cidr]],
    ['a path this parser does not read', node, [cause('')], [cause('')], [cause('')]],
  ];
  for (const [what, next, causes, had, want] of rows) assert.deepEqual(ratchet(causes, had, node, next), want, what);
});

test('ratchet: a cause at a parent path (a whole map) passes only while the whole map is untouched', () => {
  const tooLong = {
    field: 'metadata.annotations',
    reason: 'FieldValueTooLong',
    message: 'Too long: must have at most 262144 bytes',
  } as Cause;
  const old = { metadata: { annotations: { big: 'a' } } };
  assert.deepEqual(
    ratchet([tooLong], [tooLong], old, { metadata: { annotations: { big: 'a' }, labels: { x: 'y' } } }),
    [],
  );
  assert.deepEqual(ratchet([tooLong], [tooLong], old, { metadata: { annotations: { big: 'a', more: 'b' } } }), [
    tooLong,
  ]);
  // A selector re-pointed while its template's labels (where the cause is) stay: refused.
  const mismatch = cause(
    'spec.template.metadata.labels',
    'Invalid value: {"app":"a"}: `selector` does not match template `labels`',
  );
  const rs = { spec: { selector: { matchLabels: { app: 'b' } }, template: { metadata: { labels: { app: 'a' } } } } };
  const repointed = { spec: { ...rs.spec, selector: { matchLabels: { app: 'victim' } } } };
  assert.deepEqual(ratchet([mismatch], [mismatch], rs, repointed), [mismatch]);
});
