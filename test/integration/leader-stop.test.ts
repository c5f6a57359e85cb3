// Stopping in the middle of leader election: an attempt still waiting on etcd when the elector
// stops neither takes the lease nor starts the controllers, and controllers still waiting for
// their caches give up when the leadership ends. Both once left a stopped server's controllers
// running against a closed store, so the process never exited. A leader whose controllers fail
// to start stops leading, so the next attempt starts them again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEtcd } from '../helpers/etcd.ts';
import { EtcdStore } from '../../controlplane/store/etcd.ts';
import { ServiceAllocator } from '../../controlplane/allocator/service-allocator.ts';
import { Registry } from '../../controlplane/api/registry.ts';
import { RESOURCES } from '../../controlplane/api/resources.ts';
import { ctxFor } from '../../controlplane/controllers/pod-owner.ts';
import { LeaderElector } from '../../controlplane/controllers/leader.ts';
import { startControllers } from '../../controlplane/controllers/manager.ts';
import { PodCidrAllocator } from '../../controlplane/allocator/podcidr-allocator.ts';
import { until } from '../helpers/sandbox.ts';

const NAMESPACES = RESOURCES.find((r) => r.kind === 'Namespace')!;
const LEASES = RESOURCES.find((r) => r.kind === 'Lease')!;

test('an elector stopped while its attempt waits on etcd never leads, and holds no lease', {
  timeout: 60_000,
}, async () => {
  const etcd = await startEtcd(1);
  const store = new EtcdStore({ endpoints: etcd.endpoints });
  try {
    const reg = new Registry(store, new ServiceAllocator(store, '10.96.0.0/12', '30000-32767'));
    const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kube-system' } };
    await reg.create(NAMESPACES, undefined, ns, ctxFor('test'));
    for (let round = 0; round < 5; round++) {
      const events: string[] = [];
      const e = new LeaderElector(
        reg,
        `stopper-${round}`,
        async () => {
          events.push('start');
        },
        () => events.push('stop'),
        () => {},
      );
      e.start();
      // The elector's first attempt runs on a 0 ms timer made before this one: it has sent its
      // read of the Lease to etcd and waits for the answer when stop() comes.
      await new Promise((r) => setTimeout(r, 0));
      await e.stop();
      // Give that attempt time to come back (a round trip to a local etcd is a few ms).
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(events, [], `round ${round}: nothing may start after stop`);
      const lease = await reg.get(LEASES, 'kube-system', 'skiff-controller-manager').catch(() => null);
      assert.notEqual(lease?.spec?.holderIdentity, `stopper-${round}`, `round ${round}: the lease is not held`);
    }
  } finally {
    await store.close();
    await etcd.stop();
  }
});

test('controllers still waiting for their caches give up when the leadership ends', { timeout: 30_000 }, async () => {
  const etcd = await startEtcd(1);
  const store = new EtcdStore({ endpoints: etcd.endpoints });
  try {
    const reg = new Registry(store, new ServiceAllocator(store, '10.96.0.0/12', '30000-32767'));
    // With etcd gone the caches can never fill: the start waits until the leadership ends.
    await etcd.kill(0);
    const leadership = new AbortController();
    const starting = startControllers(reg, {
      apiServer: { ip: '127.0.0.1', port: 6443 },
      podCidrs: new PodCidrAllocator(store, '10.244.0.0/16'),
      lbPool: null,
      localPathRoot: '/nonexistent/skiff-leader-stop',
      nodeMonitorGracePeriodSeconds: 40,
      defaultTolerationSeconds: 300,
      log: () => {},
      signal: leadership.signal,
    });
    let settled = false;
    starting.catch(() => {}).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(settled, false, 'the start waits for the caches');
    leadership.abort();
    await assert.rejects(starting, /the leadership ended before the controllers started/);
    await until('the start settled', async () => settled, 5_000);
  } finally {
    await store.close();
    await etcd.stop();
  }
});

test('a leader whose controllers fail to start is not left leading without them: it starts again', {
  timeout: 60_000,
}, async () => {
  const etcd = await startEtcd(1);
  const store = new EtcdStore({ endpoints: etcd.endpoints });
  const events: string[] = [];
  const e = new LeaderElector(
    new Registry(store, new ServiceAllocator(store, '10.96.0.0/12', '30000-32767')),
    'flaky',
    async () => {
      events.push('start');
      if (events.filter((x) => x === 'start').length === 1) throw new Error('the store was away');
    },
    () => events.push('stop'),
    () => {},
    { retrySeconds: 0.1 },
  );
  try {
    const reg = new Registry(store, new ServiceAllocator(store, '10.96.0.0/12', '30000-32767'));
    const ns = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kube-system' } };
    await reg.create(NAMESPACES, undefined, ns, ctxFor('test'));
    e.start();
    await until('a second start', async () => events.length >= 3, 20_000);
    assert.deepEqual(events.slice(0, 3), ['start', 'stop', 'start']);
  } finally {
    await e.stop();
    await store.close();
    await etcd.stop();
  }
});
