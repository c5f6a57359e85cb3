// Network programming latency per slice change (agent/proxy/programming.ts): each trigger time
// counts once per slice, the agent's first sync only remembers, and a bad or future stamp is
// never a sample.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointSlice } from '../../controlplane/shared/kube/index.ts';
import { programmed, TRIGGER_TIME } from '../../agent/proxy/programming.ts';

const slice = (name: string, trigger?: string): EndpointSlice => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name, namespace: 'default', ...(trigger ? { annotations: { [TRIGGER_TIME]: trigger } } : {}) },
  addressType: 'IPv4',
  endpoints: [],
});
const T0 = Date.parse('2026-12-01T00:00:00.000Z');

test('each trigger time of a slice is one sample, from the stamp to now', () => {
  const seen = new Map<string, string>();
  const a = slice('a', '2026-12-01T00:00:00.000Z');
  assert.deepEqual(programmed([a, slice('b')], seen, T0 + 42, true), [
    { slice: 'default/a', trigger: '2026-12-01T00:00:00.000Z', ms: 42 },
  ]);
  // The same change seen again (another sync of the Service) is not a second sample.
  assert.deepEqual(programmed([a], seen, T0 + 90, true), []);
  const a2 = slice('a', '2026-12-01T00:00:00.050Z');
  assert.deepEqual(
    programmed([a2], seen, T0 + 75, true).map((p) => p.ms),
    [25],
  );
});

test('the first sync remembers what predates the agent without a sample', () => {
  const seen = new Map<string, string>();
  assert.deepEqual(programmed([slice('a', '2026-12-01T00:00:00.000Z')], seen, T0 + 5000, false), []);
  assert.deepEqual(programmed([slice('a', '2026-12-01T00:00:00.000Z')], seen, T0 + 6000, true), []);
});

test('an unparsable or future trigger time is no sample', () => {
  const seen = new Map<string, string>();
  assert.deepEqual(programmed([slice('a', 'yesterday'), slice('b', '2026-12-01T00:00:01.000Z')], seen, T0, true), []);
});
