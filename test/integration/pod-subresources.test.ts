// The pods/binding and pods/eviction subresources over the real API server: a pod is bound
// once (the scheduled condition set), a Binding posted to the collection is refused, and an
// eviction is refused (429 naming the budget) while a PodDisruptionBudget has no disruption
// left, and otherwise starts the pod's graceful deletion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, startTestServer } from '../helpers/server.ts';
import { api } from '../helpers/http.ts';

const PODS = '/api/v1/namespaces/default/pods';

test('binding assigns a pod to a node once; eviction honours disruption budgets', async () => {
  const s = await startTestServer();
  const base = credentials(s.kubeconfig);
  const post = (path: string, body: object) => api(base, 'POST', path, JSON.stringify(body));
  const pod = (name: string) =>
    post(PODS, {
      metadata: { name, labels: { app: 'web' } },
      spec: { containers: [{ name: 'c', image: 'skiff.local/busybox:1.36' }] },
    });
  const bind = (name: string, node?: string) =>
    post(`${PODS}/${name}/binding`, {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name },
      target: node ? { apiVersion: 'v1', kind: 'Node', name: node } : {},
    });
  const ready = (name: string) =>
    api(
      base,
      'PATCH',
      `${PODS}/${name}/status`,
      JSON.stringify({ status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } }),
      { 'Content-Type': 'application/merge-patch+json' },
    );
  const evict = (name: string) =>
    post(`${PODS}/${name}/eviction`, {
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name, namespace: 'default' },
    });
  try {
    assert.equal((await pod('a')).status, 201);
    assert.equal((await pod('b')).status, 201);

    const refused = await post(PODS, { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'a' }, target: {} });
    assert.equal(refused.status, 400);
    assert.match(refused.json().message, /pods\/binding subresource/);
    assert.equal((await bind('a')).status, 422, 'a Binding without a target node is invalid');

    const bound = await bind('a', 'n1');
    assert.equal(bound.status, 201);
    assert.deepEqual([bound.json().kind, bound.json().status], ['Status', 'Success']);
    const a = (await api(base, 'GET', `${PODS}/a`)).json();
    assert.equal(a.spec.nodeName, 'n1');
    assert.deepEqual(
      a.status.conditions
        .filter((c: { type: string }) => c.type === 'PodScheduled')
        .map((c: { status: string }) => c.status),
      ['True'],
    );
    const again = await bind('a', 'n2');
    assert.equal(again.status, 409);
    assert.match(again.json().message, /already assigned to node "n1"/);
    assert.equal((await bind('b', 'n1')).status, 201);

    for (const name of ['a', 'b']) assert.equal((await ready(name)).status, 200);
    const pdb = await post('/apis/policy/v1/namespaces/default/poddisruptionbudgets', {
      metadata: { name: 'web' },
      spec: { minAvailable: 2, selector: { matchLabels: { app: 'web' } } },
    });
    assert.equal(pdb.status, 201);

    // Two healthy pods and a minimum of two: nothing may go.
    const blocked = await evict('a');
    assert.equal(blocked.status, 429);
    assert.equal(blocked.json().reason, 'TooManyRequests');
    assert.deepEqual(
      blocked.json().details.causes.map((c: { reason: string }) => c.reason),
      ['DisruptionBudget'],
    );
    assert.match(blocked.json().details.causes[0].message, /budget web needs 2 healthy pods and has 2 currently/);
    assert.equal((await api(base, 'GET', `${PODS}/a`)).json().metadata.deletionTimestamp, undefined);

    // A minimum of one leaves one disruption: the eviction starts the bound pod's graceful deletion.
    const patched = await api(
      base,
      'PATCH',
      '/apis/policy/v1/namespaces/default/poddisruptionbudgets/web',
      JSON.stringify({ spec: { minAvailable: 1 } }),
      { 'Content-Type': 'application/merge-patch+json' },
    );
    assert.equal(patched.status, 200);
    const evicted = await evict('a');
    assert.equal(evicted.status, 201);
    assert.deepEqual([evicted.json().kind, evicted.json().status], ['Status', 'Success']);
    const gone = (await api(base, 'GET', `${PODS}/a`)).json();
    assert.ok(gone.metadata.deletionTimestamp, 'a bound pod stays, being deleted, until its node stops it');

    // The pod being deleted no longer counts as healthy: the last one is protected.
    assert.equal((await evict('b')).status, 429);
  } finally {
    await s.stop();
  }
});
