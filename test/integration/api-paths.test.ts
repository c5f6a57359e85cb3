// Path segments are names, never path operations: dot-segments (plain and percent-encoded),
// backslashes, empty segments and encoded slashes are refused with a Status and act on nothing;
// percent-encoded names are decoded once; every Status carries details.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, startTestServer } from '../helpers/server.ts';
import { raw, type Base } from '../helpers/raw.ts';

/** Every namespace and ConfigMap with its resourceVersion: what must not change. */
async function snapshot(base: Base): Promise<string[]> {
  const ns = (await raw(base, 'GET', '/api/v1/namespaces')).json();
  const cms = (await raw(base, 'GET', '/api/v1/configmaps')).json();
  const leases = (await raw(base, 'GET', '/apis/coordination.k8s.io/v1/leases')).json();
  // Leases are renewed by the leader election: their existence counts, not their version.
  for (const l of leases.items) l.metadata.resourceVersion = l.metadata.uid;
  return [...ns.items, ...cms.items, ...leases.items]
    .map(
      (o: { kind?: string; metadata: { namespace?: string; name: string; resourceVersion: string } }) =>
        `${o.metadata.namespace ?? ''}/${o.metadata.name}@${o.metadata.resourceVersion}`,
    )
    .sort();
}

test('dot-segments, backslashes, empty segments and encoded slashes never change the target', async () => {
  const s = await startTestServer();
  const base = credentials(s.kubeconfig);
  try {
    for (const n of ['keep', 'other'])
      assert.equal(
        (await raw(base, 'POST', '/api/v1/namespaces', JSON.stringify({ metadata: { name: n } }))).status,
        201,
      );
    for (const [ns, n] of [
      ['keep', 'a'],
      ['keep', 'b'],
      ['other', 'c'],
    ])
      assert.equal(
        (await raw(base, 'POST', `/api/v1/namespaces/${ns}/configmaps`, JSON.stringify({ metadata: { name: n } })))
          .status,
        201,
      );
    const before = await snapshot(base);
    const cm = '/api/v1/namespaces/keep/configmaps';
    const attacks: [string, string][] = [
      ['DELETE', `${cm}/..`],
      ['DELETE', `${cm}/.`],
      ['DELETE', `${cm}/%2e`],
      ['DELETE', `${cm}/%2E`],
      ['DELETE', `${cm}/.%2e`],
      ['DELETE', `${cm}/%2e%2e`],
      ['DELETE', `${cm}/`],
      ['DELETE', `${cm}//`],
      ['DELETE', `${cm}/a\\..`],
      ['DELETE', `${cm}/a%5c..`],
      ['DELETE', `${cm}/../../other`],
      ['DELETE', `${cm}/x/../a`],
      ['DELETE', `${cm}/x%2f..%2fa`],
      ['DELETE', `${cm}/x%2F..%2Fa`],
      ['DELETE', '/api/v1/namespaces/%2e%2e/configmaps/%2e'],
      ['DELETE', '/api/v1/namespaces/keep/../other/configmaps/c'],
      ['DELETE', '/api/v1/namespaces//configmaps'],
      ['DELETE', '/api/v1/namespaces/keep/configmaps/a/'],
      ['DELETE', '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/%2e'],
      ['DELETE', '/api/v1/namespaces/keep/configmaps/a#x'],
      ['PATCH', `${cm}/..`],
      ['PUT', `${cm}/..`],
      ['POST', '/api/v1/namespaces/keep/../other/configmaps'],
      ['POST', '/api/v1/namespaces/other/configmaps/..'],
      ['GET', '/api/v1/namespaces/keep/configmaps/..'],
      ['GET', '/api/v1/namespaces/keep/configmaps/%zz'],
    ];
    for (const [method, path] of attacks) {
      const body =
        method === 'PATCH'
          ? '{"metadata":{"labels":{"x":"y"}}}'
          : method === 'PUT'
            ? '{"metadata":{"name":".."}}'
            : method === 'POST'
              ? '{"metadata":{"name":"planted"}}'
              : undefined;
      const headers: Record<string, string> =
        method === 'PATCH' ? { 'Content-Type': 'application/merge-patch+json' } : {};
      const r = await raw(base, method, path, body, headers);
      assert.ok(r.status === 400 || r.status === 404, `${method} ${path}: ${r.status} ${r.body.slice(0, 200)}`);
      const st = r.json();
      assert.equal(st.kind, 'Status', `${method} ${path}`);
      assert.equal(st.code, r.status);
      assert.ok(st.details, `${method} ${path}: a Status carries details`);
      assert.deepEqual(await snapshot(base), before, `${method} ${path} changed nothing`);
    }
    // A name is percent-decoded once: %61 is "a", %2561 is the name "%61" (not found).
    assert.equal((await raw(base, 'GET', `${cm}/%61`)).json().metadata.name, 'a');
    assert.equal((await raw(base, 'GET', `${cm}/%2561`)).status, 404);
    // A PUT-create names what the URL names, and the URL's name must be valid for the kind.
    const leases = '/apis/coordination.k8s.io/v1/namespaces/keep/leases';
    const bad = await raw(base, 'PUT', `${leases}/h%23x`, JSON.stringify({ spec: {} }));
    assert.equal(bad.status, 422, bad.body);
    assert.equal(bad.json().details.kind, 'Lease');
    const good = await raw(base, 'PUT', `${leases}/l1`, JSON.stringify({ spec: {} }));
    assert.equal(good.status, 201, good.body);
    // NotFound carries name, group and kind (kubectl reads details).
    const nf = (await raw(base, 'GET', `${leases}/missing`)).json();
    assert.deepEqual(
      { name: nf.details.name, group: nf.details.group, kind: nf.details.kind },
      { name: 'missing', group: 'coordination.k8s.io', kind: 'leases' },
    );
    const forbidden = (await raw(base, 'DELETE', '/api/v1/namespaces/default')).json();
    assert.equal(forbidden.code, 403);
    assert.equal(forbidden.details.name, 'default');
    assert.equal(forbidden.details.kind, 'namespaces');
  } finally {
    await s.stop();
  }
});
