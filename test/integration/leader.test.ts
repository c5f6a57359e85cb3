// Leader election: two `skiff server` processes on a three-member etcd; exactly one runs the
// controllers (a Deployment gets exactly its replicas, never twice), and when the leader is
// killed the other takes the Lease over within 15 s and carries on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startEtcd, freePort } from '../helpers/etcd.ts';
import { credentials, spawnServers, stopSpawned, tempDir, type SpawnedServer } from '../helpers/server.ts';
import { api } from '../helpers/http.ts';
import { until } from '../helpers/sandbox.ts';

// Servers started together on one etcd share the cluster they make through this secret.
const SECRET = '5ec2e7'.repeat(6);

type Creds = ReturnType<typeof credentials>;
const LEASE = '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/skiff-controller-manager';

const deployment = (name: string) =>
  JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas: 5,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'c', image: 'skiff.local/busybox:1.36' }] },
      },
    },
  });
const podCount = async (c: Creds, app: string) =>
  (await api(c, 'GET', `/api/v1/namespaces/default/pods?labelSelector=app%3D${app}`)).json().items.length as number;

test(
  'two servers on a three-member etcd: one leads the controllers; ' + 'the other takes over within 15 s of a kill',
  async () => {
    const etcd = await startEtcd(3);
    const ports = [await freePort(), await freePort()];
    const dirs = ports.map((p) => tempDir(`leader-${p}`));
    let servers: SpawnedServer[] = [];
    try {
      const args = ['--datastore-endpoint', etcd.endpoints.join(','), '--agent-port', '0', '--token', SECRET];
      servers = await spawnServers(ports.map((port, i) => ({ dataDir: dirs[i], port, args })));
      const creds = servers.map((s) => credentials(s.kubeconfig));
      const holder = await until(
        'a leader',
        async () => (await api(creds[0], 'GET', LEASE)).json().spec?.holderIdentity,
        20_000,
      );
      const leader = ports.findIndex((p) => holder.includes(`_${p}_`));
      assert.ok(leader >= 0, `holder ${holder} is one of the two servers`);
      const other = 1 - leader;
      assert.equal(
        (await api(creds[other], 'POST', '/apis/apps/v1/namespaces/default/deployments', deployment('first'))).status,
        201,
      );
      await until('five pods', async () => (await podCount(creds[other], 'first')) === 5, 20_000);
      // One controller manager: over the next 3 s the count never goes past the replicas.
      for (const end = Date.now() + 3000; Date.now() < end; ) {
        assert.equal(await podCount(creds[other], 'first'), 5, 'one controller manager: never more than the replicas');
        await new Promise((r) => setTimeout(r, 200));
      }

      const t0 = Date.now();
      servers[leader].proc.kill('SIGKILL');
      await until(
        'the other server to lead',
        async () => (await api(creds[other], 'GET', LEASE)).json().spec?.holderIdentity?.includes(`_${ports[other]}_`),
        20_000,
      );
      const took = Date.now() - t0;
      assert.ok(took < 15_000, `took over after ${took} ms`);
      assert.equal(
        (await api(creds[other], 'POST', '/apis/apps/v1/namespaces/default/deployments', deployment('second'))).status,
        201,
      );
      await until(
        'the new leader runs the controllers',
        async () => (await podCount(creds[other], 'second')) === 5,
        20_000,
      );
      const lease = (await api(creds[other], 'GET', LEASE)).json();
      assert.equal(lease.spec.leaseTransitions, 1);
    } finally {
      await Promise.all(servers.map(stopSpawned));
      await etcd.stop();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  },
);
