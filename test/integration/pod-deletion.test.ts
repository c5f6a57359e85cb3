// Graceful pod deletion in the API: a pod on a node stays (with deletionTimestamp) until its
// node confirms with grace 0; an unscheduled pod goes at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, startTestServer } from '../helpers/server.ts';
import { api } from '../helpers/http.ts';

test('pods bound to a node are deleted gracefully, also with a spec grace of 0', async () => {
  const s = await startTestServer();
  const base = credentials(s.kubeconfig);
  const pods = '/api/v1/namespaces/default/pods';
  const mk = (name: string, spec: object) =>
    api(
      base,
      'POST',
      pods,
      JSON.stringify({
        metadata: { name },
        spec: { containers: [{ name: 'c', image: 'skiff.local/busybox:1.36' }], ...spec },
      }),
    );
  try {
    assert.equal((await mk('bound', { nodeName: 'n1', terminationGracePeriodSeconds: 0 })).status, 201);
    assert.equal((await mk('loose', {})).status, 201);
    const first = await api(base, 'DELETE', `${pods}/bound`);
    assert.equal(first.status, 202);
    assert.ok(first.json().metadata.deletionTimestamp);
    assert.equal(first.json().metadata.deletionGracePeriodSeconds, 1, 'a spec grace of 0 becomes 1 s for the node');
    assert.equal((await api(base, 'GET', `${pods}/bound`)).status, 200, 'still there until the node confirms');
    const confirm = await api(base, 'DELETE', `${pods}/bound`, JSON.stringify({ gracePeriodSeconds: 0 }));
    assert.equal(confirm.status, 200);
    assert.equal((await api(base, 'GET', `${pods}/bound`)).status, 404);
    assert.equal((await api(base, 'DELETE', `${pods}/loose`)).status, 200);
    assert.equal((await api(base, 'GET', `${pods}/loose`)).status, 404, 'an unscheduled pod goes at once');
  } finally {
    await s.stop();
  }
});

test(
  'a second delete with a shorter grace period wins: the deadline moves earlier, ' + 'a longer one changes nothing',
  async () => {
    const s = await startTestServer();
    const base = credentials(s.kubeconfig);
    const pods = '/api/v1/namespaces/default/pods';
    try {
      const body = { metadata: { name: 'p' }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x' }] } };
      assert.equal((await api(base, 'POST', pods, JSON.stringify(body))).status, 201);
      const del = (grace: number) =>
        api(base, 'DELETE', `${pods}/p`, JSON.stringify({ gracePeriodSeconds: grace })).then((r) => r.json().metadata);
      const first = await del(30);
      assert.equal(first.deletionGracePeriodSeconds, 30);
      const second = await del(1);
      assert.equal(second.deletionGracePeriodSeconds, 1);
      assert.equal(Date.parse(first.deletionTimestamp) - Date.parse(second.deletionTimestamp), 29_000);
      const third = await del(10);
      assert.deepEqual(
        [third.deletionGracePeriodSeconds, third.deletionTimestamp],
        [1, second.deletionTimestamp],
        'a longer grace never extends the deadline',
      );
    } finally {
      await s.stop();
    }
  },
);
