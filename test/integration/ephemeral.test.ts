// The pods/ephemeralcontainers subresource (kubectl debug) on a real server: added through the
// subresource only, never changed or removed, validated, and every error a Status with details.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, startTestServer } from '../helpers/server.ts';
import { api } from '../helpers/http.ts';

test(
  'pods/ephemeralcontainers: GET, strategic-merge PATCH and PUT add containers; changes, removals and bad ' +
    'ones are refused with details',
  async () => {
    const s = await startTestServer();
    const base = credentials(s.kubeconfig);
    const pod = '/api/v1/namespaces/default/pods/p';
    const sub = `${pod}/ephemeralcontainers`;
    const smp = { 'Content-Type': 'application/strategic-merge-patch+json' };
    const dbg = (name: string, extra: object = {}) => ({ name, image: 'skiff.local/busybox:1.36', ...extra });
    try {
      const missing = await api(base, 'PATCH', '/api/v1/namespaces/default/pods/nope/ephemeralcontainers', '{}', smp);
      assert.equal(missing.status, 404);
      assert.deepEqual(
        missing.json().details,
        { name: 'nope', group: '', kind: 'pods' },
        'kubectl debug reads details',
      );
      const body = {
        metadata: { name: 'p' },
        spec: { containers: [{ name: 'app', image: 'skiff.local/busybox:1.36' }] },
      };
      assert.equal((await api(base, 'POST', '/api/v1/namespaces/default/pods', JSON.stringify(body))).status, 201);
      const got = await api(base, 'GET', sub);
      assert.equal(got.status, 200);
      assert.equal(got.json().kind, 'Pod');
      // As kubectl debug sends it: a two-way strategic merge patch adding one container.
      const added = await api(
        base,
        'PATCH',
        sub,
        JSON.stringify({ spec: { ephemeralContainers: [dbg('d1', { targetContainerName: 'app', stdin: true })] } }),
        smp,
      );
      assert.equal(added.status, 200, added.body);
      const ec = added.json().spec.ephemeralContainers;
      assert.deepEqual(
        [ec.length, ec[0].name, ec[0].targetContainerName, ec[0].terminationMessagePolicy],
        [1, 'd1', 'app', 'File'],
      );
      // PUT of the whole pod with one more.
      const cur = (await api(base, 'GET', sub)).json();
      cur.spec.ephemeralContainers.push(dbg('d2'));
      const put = await api(base, 'PUT', sub, JSON.stringify(cur));
      assert.equal(put.status, 200, put.body);
      assert.deepEqual(
        put.json().spec.ephemeralContainers.map((c: { name: string }) => c.name),
        ['d1', 'd2'],
      );
      const refused = async (method: string, path: string, patch: object, field: RegExp, hdr = smp) => {
        const r = await api(base, method, path, JSON.stringify(patch), hdr);
        assert.equal(r.status, 422, r.body);
        const st = r.json();
        assert.equal(st.reason, 'Invalid');
        assert.equal(st.details.name, 'p');
        assert.ok(
          st.details.causes.some((c: { field: string }) => field.test(c.field)),
          JSON.stringify(st.details),
        );
      };
      await refused(
        'PATCH',
        sub,
        { spec: { ephemeralContainers: [{ name: 'd1', image: 'other' }] } },
        /^spec\.ephemeralContainers$/,
      );
      await refused('PATCH', sub, { spec: { ephemeralContainers: [{ name: 'app', image: 'x' }] } }, /\[2\]\.name$/);
      await refused(
        'PATCH',
        sub,
        { spec: { ephemeralContainers: [dbg('d3', { ports: [{ containerPort: 80 }] })] } },
        /\.ports$/,
      );
      await refused(
        'PATCH',
        sub,
        { spec: { ephemeralContainers: [dbg('d4', { targetContainerName: 'ghost' })] } },
        /targetContainerName$/,
      );
      await refused(
        'PATCH',
        sub,
        { spec: { $setElementOrder: {}, ephemeralContainers: null } },
        /^spec\.ephemeralContainers$/,
      );
      // A plain pod update may not touch them.
      await refused('PATCH', pod, { spec: { ephemeralContainers: [dbg('d5')] } }, /^spec$/);
      // Only ephemeral containers change through the subresource.
      const other = await api(base, 'PATCH', sub, JSON.stringify({ metadata: { labels: { a: 'b' } } }), smp);
      assert.equal(other.status, 200);
      assert.equal(other.json().metadata.labels, undefined);
    } finally {
      await s.stop();
    }
  },
);
