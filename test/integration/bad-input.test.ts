// Bad input of every kind gets the right Status, and neither crashes the server nor changes state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, startTestServer } from '../helpers/server.ts';
import { api } from '../helpers/http.ts';
import type { List, Status } from '../../controlplane/shared/kube/index.ts';

test('bad requests get Kubernetes Status errors and leave the store as it was', async () => {
  const s = await startTestServer();
  const base = credentials(s.kubeconfig);
  try {
    const created = await api(
      base,
      'POST',
      '/api/v1/namespaces/default/configmaps',
      JSON.stringify({ metadata: { name: 'keep' }, data: { a: 'b' } }),
    );
    assert.equal(created.status, 201);
    const rv = created.json().metadata.resourceVersion;
    const cm = '/api/v1/namespaces/default/configmaps';
    const cases: [string, string, string | Buffer | undefined, Record<string, string>, number, string][] = [
      ['POST', cm, '{"metadata": {"name": ', {}, 400, 'BadRequest'],
      ['POST', cm, 'kind: ConfigMap\nmetadata: [unclosed', { 'Content-Type': 'application/yaml' }, 400, 'BadRequest'],
      ['POST', cm, '"just a string"', {}, 400, 'BadRequest'],
      [
        'POST',
        cm,
        JSON.stringify({ apiVersion: 'apps/v1', kind: 'ConfigMap', metadata: { name: 'x' } }),
        {},
        400,
        'BadRequest',
      ],
      [
        'POST',
        cm,
        JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' } }),
        {},
        400,
        'BadRequest',
      ],
      ['POST', cm, JSON.stringify({ metadata: { name: 'x' }, data: { a: 1 } }), {}, 422, 'Invalid'],
      ['POST', cm, JSON.stringify({ metadata: { name: 'Not_Valid' } }), {}, 422, 'Invalid'],
      ['POST', cm, JSON.stringify({ metadata: { name: 'x', labels: { 'a b': 'c' } } }), {}, 422, 'Invalid'],
      ['POST', cm, JSON.stringify({ metadata: { name: 'x', labels: { a: '-bad-' } } }), {}, 422, 'Invalid'],
      ['POST', cm, JSON.stringify({ metadata: { name: 'keep' } }), {}, 409, 'AlreadyExists'],
      [
        'POST',
        cm + '?fieldValidation=Strict',
        JSON.stringify({ metadata: { name: 'x' }, bogus: 1 }),
        {},
        400,
        'BadRequest',
      ],
      ['POST', cm + '?fieldValidation=Sometimes', JSON.stringify({ metadata: { name: 'x' } }), {}, 400, 'BadRequest'],
      ['POST', cm, Buffer.alloc(3 * 1024 * 1024 + 10, 0x20), {}, 413, 'RequestEntityTooLarge'],
      ['POST', '/api/v1/namespaces/nope/configmaps', JSON.stringify({ metadata: { name: 'x' } }), {}, 404, 'NotFound'],
      ['GET', cm + '?labelSelector=a%3D%3Db%3Dc', undefined, {}, 400, 'BadRequest'],
      ['GET', cm + '?labelSelector=in%20(x', undefined, {}, 400, 'BadRequest'],
      ['GET', cm + '?fieldSelector=data.a%3Db', undefined, {}, 400, 'BadRequest'],
      ['GET', cm + '?limit=abc', undefined, {}, 400, 'BadRequest'],
      ['GET', cm + '?continue=garbage!!', undefined, {}, 400, 'BadRequest'],
      ['GET', cm + '/missing', undefined, {}, 404, 'NotFound'],
      ['GET', '/api/v1/nosuchthings', undefined, {}, 404, 'NotFound'],
      ['GET', '/apis/nosuch.group/v1/things', undefined, {}, 404, 'NotFound'],
      [
        'PATCH',
        cm + '/keep',
        '{"data":{"a":"c"}}',
        { 'Content-Type': 'application/x-unknown-patch' },
        415,
        'UnsupportedMediaType',
      ],
      [
        'PATCH',
        cm + '/keep',
        '[{"op":"remove","path":"/nope"}]',
        { 'Content-Type': 'application/json-patch+json' },
        422,
        'Invalid',
      ],
      ['PATCH', cm + '/keep', '{"data":{"a":3}}', { 'Content-Type': 'application/merge-patch+json' }, 422, 'Invalid'],
      [
        'PATCH',
        cm + '/keep',
        '{"metadata":{"name":"other"}}',
        { 'Content-Type': 'application/merge-patch+json' },
        400,
        'BadRequest',
      ],
      [
        'PATCH',
        cm + '/keep',
        '{"data":{"a":"c"}}',
        { 'Content-Type': 'application/apply-patch+yaml' },
        400,
        'BadRequest',
      ],
      [
        'PUT',
        cm + '/keep',
        JSON.stringify({ metadata: { name: 'keep', resourceVersion: '1' }, data: { a: 'z' } }),
        {},
        409,
        'Conflict',
      ],
      ['PUT', cm + '/keep', JSON.stringify({ metadata: { name: 'other' } }), {}, 400, 'BadRequest'],
      ['PUT', cm, JSON.stringify({ metadata: { name: 'keep' } }), {}, 405, 'MethodNotAllowed'],
      ['DELETE', cm + '/keep', JSON.stringify({ preconditions: { uid: 'not-the-uid' } }), {}, 409, 'Conflict'],
      ['DELETE', cm + '/keep?propagationPolicy=Sideways', undefined, {}, 400, 'BadRequest'],
      ['DELETE', '/api/v1/namespaces/default', undefined, {}, 403, 'Forbidden'],
      [
        'POST',
        '/api/v1/namespaces/default/services',
        JSON.stringify({ metadata: { name: 'svc' }, spec: { ports: [{ port: 99999 }] } }),
        {},
        422,
        'Invalid',
      ],
      [
        'POST',
        '/api/v1/namespaces/default/services',
        JSON.stringify({ metadata: { name: 'svc' }, spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 80 }] } }),
        {},
        422,
        'Invalid',
      ],
      [
        'POST',
        '/apis/apps/v1/namespaces/default/deployments',
        JSON.stringify({
          metadata: { name: 'd' },
          spec: {
            selector: { matchLabels: { a: 'b' } },
            template: { metadata: { labels: { a: 'c' } }, spec: { containers: [{ name: 'c', image: 'i' }] } },
          },
        }),
        {},
        422,
        'Invalid',
      ],
    ];
    for (const [method, path, body, headers, code, reason] of cases) {
      const r = await api(base, method, path, body, headers);
      const label = `${method} ${path} ${String(body).slice(0, 60)}`;
      assert.equal(r.status, code, `${label}: ${r.body.slice(0, 300)}`);
      const st = r.json();
      assert.equal(st.kind, 'Status', label);
      assert.equal(st.code, code, label);
      assert.equal(st.reason, reason, label);
      assert.ok(st.message, label);
    }
    const unauth = await api(base, 'GET', cm, undefined, {}, false);
    assert.equal(unauth.status, 401);
    assert.equal(unauth.json().reason, 'Unauthorized');
    const wrong = await api({ ...base, token: 'nope' }, 'GET', cm);
    assert.equal(wrong.status, 401);
    assert.equal((await api(base, 'GET', '/healthz', undefined, {}, false)).body, 'ok');
    const invalid = await api(base, 'POST', cm, JSON.stringify({ metadata: { name: 'x', labels: { a: '-bad-' } } }));
    assert.deepEqual(
      (invalid.json() as Status).details?.causes?.map((c) => c.field),
      ['metadata.labels'],
    );

    const after = await api(base, 'GET', cm + '/keep');
    assert.equal(after.json().metadata.resourceVersion, rv, 'no bad request changed the object');
    assert.deepEqual(after.json().data, { a: 'b' });
    const list = await api(base, 'GET', cm);
    assert.deepEqual(
      (list.json() as List).items.map((i) => i.metadata.name),
      ['keep'],
      'nothing half-written',
    );
    const svcs = await api(base, 'GET', '/api/v1/namespaces/default/services');
    assert.deepEqual(
      (svcs.json() as List).items.map((i) => i.metadata.name),
      ['kubernetes'],
    );
    const ranges = await s.server.store.list('/registry/ranges/');
    assert.deepEqual(
      ranges.items.map((k) => k.key),
      ['/registry/ranges/serviceips/10.96.0.1', '/registry/ranges/serviceips/10.96.0.10'],
      'failed Service creates released what they allocated (only kubernetes and kube-dns hold IPs)',
    );
    assert.equal((await api(base, 'GET', '/readyz', undefined, {}, false)).status, 200);
  } finally {
    await s.stop();
  }
});
