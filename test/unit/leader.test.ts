// Leader election's pure rule: who may hold the controller-manager Lease at a given time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canHold } from '../../controlplane/controllers/leader.ts';
import type { Lease } from '../../controlplane/shared/kube/index.ts';

const lease = (spec: Lease['spec']): Lease => ({ metadata: { name: 'l', namespace: 'kube-system' }, spec });
const T = Date.parse('2026-11-30T12:00:00Z');

test('a Lease is free when absent, unheld, ours, or not renewed within its duration', () => {
  assert.equal(canHold(null, 'a', T), true);
  assert.equal(canHold(lease({}), 'a', T), true);
  assert.equal(canHold(lease({ holderIdentity: 'a', renewTime: '2026-11-30T12:00:00.000000Z' }), 'a', T), true);
  const b = { holderIdentity: 'b', leaseDurationSeconds: 10 };
  assert.equal(canHold(lease({ ...b, renewTime: '2026-11-30T11:59:55.000000Z' }), 'a', T), false, 'fresh');
  assert.equal(canHold(lease({ ...b, renewTime: '2026-11-30T11:59:49.000000Z' }), 'a', T), true, 'stale');
  assert.equal(canHold(lease({ ...b, acquireTime: '2026-11-30T11:59:55.000000Z' }), 'a', T), false, 'acquired');
  assert.equal(canHold(lease(b), 'a', T), true, 'never renewed');
  assert.equal(canHold(lease({ ...b, renewTime: 'yesterday' }), 'a', T), true, 'a time that does not parse');
});
