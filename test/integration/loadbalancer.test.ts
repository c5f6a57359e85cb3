// LoadBalancer addresses from --lb-pool: allocated, requested, exhausted (an event says so),
// released on a type change and on delete, and never given twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, startTestServer } from '../helpers/server.ts';
import { api } from '../helpers/http.ts';
import { until } from '../helpers/sandbox.ts';
import { poolAddresses } from '../../controlplane/allocator/lb-allocator.ts';

test('pool specs: CIDRs without network and broadcast, ranges, single addresses', () => {
  assert.deepEqual(poolAddresses('10.0.0.0/30'), ['10.0.0.1', '10.0.0.2']);
  assert.deepEqual(poolAddresses('10.0.0.5-10.0.0.7, 10.0.1.1'), ['10.0.0.5', '10.0.0.6', '10.0.0.7', '10.0.1.1']);
  assert.throws(() => poolAddresses('10.0.0.9-10.0.0.1'), /invalid address range/);
});

test('LoadBalancer Services get pool addresses; exhaustion is an event; type change and delete release', async () => {
  const s = await startTestServer({ lbPool: '10.251.250.0/30' });
  try {
    const c = credentials(s.kubeconfig);
    const lb = (name: string, extra: object = {}) =>
      api(
        c,
        'POST',
        '/api/v1/namespaces/default/services',
        JSON.stringify({ metadata: { name }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }], ...extra } }),
      );
    const ingress = async (name: string) =>
      (await api(c, 'GET', `/api/v1/namespaces/default/services/${name}`)).json().status?.loadBalancer?.ingress?.[0]
        ?.ip as string | undefined;
    assert.equal((await lb('a', { loadBalancerIP: '10.251.250.2' })).status, 201);
    assert.equal((await lb('b')).status, 201);
    assert.equal(await until('a gets the address it asked for', () => ingress('a')), '10.251.250.2');
    assert.equal(await until('b gets the other one', () => ingress('b')), '10.251.250.1');
    assert.equal((await lb('c')).status, 201);
    const ev = await until(
      'an AllocationFailed event for c',
      async () =>
        (
          await api(
            c,
            'GET',
            '/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dc,reason%3DAllocationFailed',
          )
        ).json().items[0],
    );
    assert.match(ev.message, /no free address in the load-balancer pool/);
    assert.equal(await ingress('c'), undefined);
    // b becomes a ClusterIP Service: its address goes to c.
    const patch = await api(
      c,
      'PATCH',
      '/api/v1/namespaces/default/services/b',
      JSON.stringify({ spec: { type: 'ClusterIP' } }),
      { 'Content-Type': 'application/merge-patch+json' },
    );
    assert.equal(patch.status, 200, patch.body);
    assert.equal(await until('c gets the freed address', () => ingress('c'), 20_000), '10.251.250.1');
    assert.equal(
      await until('b has no ingress any more', async () => (await ingress('b')) === undefined && 'gone'),
      'gone',
    );
    assert.equal((await api(c, 'DELETE', '/api/v1/namespaces/default/services/a')).status, 200);
    assert.equal((await lb('d')).status, 201);
    assert.equal(await until('d gets the deleted one', () => ingress('d'), 20_000), '10.251.250.2');
  } finally {
    await s.stop();
  }
});
