// @kubernetes/client-node against skiff server: list, informer add/update/delete, 410 recovery.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { startTestServer } from '../helpers/server.ts';

async function until(cond: () => boolean, what: string, ms = 10_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('client-node lists, and an informer follows changes and recovers after 410 Gone', async () => {
  const s = await startTestServer();
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(s.kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  try {
    const ns = await core.listNamespace();
    assert.deepEqual(ns.items.map((n) => n.metadata?.name).sort(), [
      'default',
      'kube-node-lease',
      'kube-public',
      'kube-system',
    ]);
    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'before' }, data: { a: '1' } },
    });

    let lists = 0;
    const listFn = () => {
      lists++;
      return core.listNamespacedConfigMap({ namespace: 'default' });
    };
    const informer = k8s.makeInformer(kc, '/api/v1/namespaces/default/configmaps', listFn);
    const seen: string[] = [];
    informer.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata?.name} ${JSON.stringify(o.data)}`));
    informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
    informer.on('error', (e) => seen.push(`error ${e}`));
    await informer.start();
    await until(() => seen.includes('add before'), 'initial add');

    await core.createNamespacedConfigMap({
      namespace: 'default',
      body: { metadata: { name: 'live' }, data: { a: '1' } },
    });
    await until(() => seen.includes('add live'), 'add');
    await core.patchNamespacedConfigMap(
      { namespace: 'default', name: 'live', body: { data: { a: '2' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await until(() => seen.includes('update live {"a":"2"}'), 'update');
    await core.deleteNamespacedConfigMap({ namespace: 'default', name: 'live' });
    await until(() => seen.includes('delete live'), 'delete');
    assert.equal(lists, 1);

    // Move the store past the informer's resourceVersion in another prefix, compact, and cut
    // the watch: the informer resumes from a compacted revision, gets 410, and relists.
    for (let i = 0; i < 3; i++)
      await core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: `s${i}` } } });
    await s.server.store.compact(await s.server.store.currentRevision());
    await core.deleteNamespacedConfigMap({ namespace: 'default', name: 'before' });
    await until(() => seen.includes('delete before'), 'delete before the cut');
    for (let i = 3; i < 6; i++)
      await core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: `s${i}` } } });
    await s.server.store.compact(await s.server.store.currentRevision());
    s.server.api.closeWatches();
    await until(() => lists === 2, 'relist after 410');
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'after' } } });
    await until(() => seen.includes('add after'), 'add after recovery');
    assert.ok(!seen.some((x) => x.startsWith('error')), seen.join('\n'));
    await informer.stop();
  } finally {
    await s.stop();
  }
});
