// Watch semantics on the wire: resume from a revision, selectors (leaving the selector is a
// DELETED), bookmarks, timeoutSeconds, and 410 as an ERROR event once a revision is compacted.
// Also dryRun, deletecollection, paging, Warning headers and /metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { credentials, startTestServer } from '../helpers/server.ts';
import { api } from '../helpers/http.ts';
import type { KubeObject, Status, WatchEvent } from '../../controlplane/shared/kube/index.ts';

type Base = ReturnType<typeof credentials>;
/** A watch event as the test reads it: an object, or (on ERROR) a Status. */
type Event = { type: WatchEvent['type']; object: KubeObject & Partial<Status> };
function watch(base: Base, path: string): { events: Event[]; ended: Promise<void>; close(): void } {
  const events: Event[] = [];
  let close = () => {};
  const ended = new Promise<void>((resolve) => {
    const req = request(
      base.server + path,
      { ca: base.ca, headers: { Authorization: `Bearer ${base.token}` } },
      (res) => {
        let buf = '';
        res.on('data', (c: Buffer) => {
          buf += c.toString();
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            events.push(JSON.parse(buf.slice(0, nl)));
            buf = buf.slice(nl + 1);
          }
        });
        res.on('end', () => resolve());
        res.on('error', () => resolve());
      },
    );
    req.on('error', () => resolve());
    req.end();
    close = () => {
      req.destroy();
      resolve();
    };
  });
  return { events, ended, close: () => close() };
}
async function until(cond: () => boolean, what: string, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
const cm = '/api/v1/namespaces/default/configmaps';

test('watch: resume, selectors, timeout, 410', async () => {
  const s = await startTestServer();
  const base = credentials(s.kubeconfig);
  try {
    const a = await api(base, 'POST', cm, JSON.stringify({ metadata: { name: 'a', labels: { team: 'x' } } }));
    const rv = a.json().metadata.resourceVersion;
    await api(base, 'POST', cm, JSON.stringify({ metadata: { name: 'b', labels: { team: 'y' } } }));
    const w = watch(base, `${cm}?watch=1&resourceVersion=${rv}&labelSelector=team%3Dx`);
    await api(base, 'PATCH', `${cm}/a`, '{"data":{"k":"1"}}', { 'Content-Type': 'application/merge-patch+json' });
    await api(base, 'PATCH', `${cm}/b`, '{"metadata":{"labels":{"team":"x"}}}', {
      'Content-Type': 'application/merge-patch+json',
    });
    await api(base, 'PATCH', `${cm}/a`, '{"metadata":{"labels":{"team":"z"}}}', {
      'Content-Type': 'application/merge-patch+json',
    });
    await until(() => w.events.length >= 3, 'selector events');
    assert.deepEqual(
      w.events.map((e) => `${e.type} ${e.object.metadata.name}`),
      ['MODIFIED a', 'ADDED b', 'DELETED a'],
      'b was created outside the selector and entered it',
    );
    w.close();

    const all = watch(base, `${cm}?watch=1`);
    await until(() => all.events.length >= 2, 'initial ADDED events for an unset resourceVersion');
    assert.deepEqual(
      all.events.map((e) => e.type),
      ['ADDED', 'ADDED'],
    );
    all.close();

    const t0 = Date.now();
    const short = watch(base, `${cm}?watch=1&resourceVersion=${rv}&timeoutSeconds=1`);
    await short.ended;
    assert.ok(Date.now() - t0 < 4000, 'timeoutSeconds ends the watch');

    const cur = await s.server.store.currentRevision();
    await s.server.store.compact(cur);
    const old = watch(base, `${cm}?watch=1&resourceVersion=${rv}`);
    await old.ended;
    assert.equal(old.events.length, 1);
    assert.equal(old.events[0].type, 'ERROR');
    assert.equal(old.events[0].object.kind, 'Status');
    assert.equal(old.events[0].object.code, 410);
    assert.equal(old.events[0].object.reason, 'Expired');
    const list = await api(base, 'GET', `${cm}?resourceVersion=${rv}&resourceVersionMatch=Exact`);
    assert.equal(list.status, 410);
  } finally {
    await s.stop();
  }
});

test('dryRun, deletecollection, paging, warnings and metrics', async () => {
  const s = await startTestServer();
  const base = credentials(s.kubeconfig);
  try {
    const dry = await api(base, 'POST', `${cm}?dryRun=All`, JSON.stringify({ metadata: { name: 'ghost' } }));
    assert.equal(dry.status, 201);
    assert.equal((await api(base, 'GET', `${cm}/ghost`)).status, 404, 'dry run wrote nothing');
    for (let i = 0; i < 7; i++)
      await api(
        base,
        'POST',
        cm,
        JSON.stringify({ metadata: { name: `p${i}`, labels: { batch: i % 2 ? 'odd' : 'even' } } }),
      );
    const names: string[] = [];
    let cont = '';
    let pages = 0;
    do {
      const r = (await api(base, 'GET', `${cm}?limit=3${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`)).json();
      names.push(...r.items.map((i: KubeObject) => i.metadata.name));
      cont = r.metadata.continue ?? '';
      if (cont) assert.equal(r.metadata.remainingItemCount, 7 - names.length);
      pages++;
    } while (cont);
    assert.equal(pages, 3);
    assert.deepEqual(names, ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
    const odd = (await api(base, 'GET', `${cm}?labelSelector=batch%3Dodd&limit=2`)).json();
    assert.deepEqual(
      odd.items.map((i: KubeObject) => i.metadata.name),
      ['p1', 'p3'],
      'limit counts matching items',
    );
    const del = await api(base, 'DELETE', `${cm}?labelSelector=batch%3Deven`);
    assert.equal(del.status, 200);
    const left = (await api(base, 'GET', cm)).json().items.map((i: KubeObject) => i.metadata.name);
    assert.deepEqual(left, ['p1', 'p3', 'p5']);
    const warn = await api(
      base,
      'POST',
      `${cm}?fieldValidation=Warn`,
      JSON.stringify({ metadata: { name: 'w' }, extra: 1 }),
    );
    assert.equal(warn.status, 201);
    assert.match(String(warn.headers.warning), /unknown field \\"extra\\"/);
    assert.equal(warn.json().extra, undefined, 'unknown fields are dropped');
    const metrics = await api(base, 'GET', '/metrics');
    assert.match(metrics.body, /apiserver_request_total\{verb="POST",resource="configmaps",code="201"\} \d+/);
    assert.match(
      metrics.body,
      /apiserver_request_duration_seconds_bucket\{verb="LIST",resource="configmaps",le="0.005"\}/,
    );
    assert.match(metrics.body, /apiserver_longrunning_requests\{verb="WATCH"\} 0/);
  } finally {
    await s.stop();
  }
});
