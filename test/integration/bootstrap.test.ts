// Three servers started at the same instant on one empty etcd all come up: bootstrapping the
// built-in objects (namespaces, the `kubernetes` Service and its ClusterIP) is idempotent, and a
// server that finds an object, or its allocation, made by another carries on. Several rounds,
// each on a fresh etcd, because the race is a matter of timing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { freePort, startEtcd } from '../helpers/etcd.ts';
import { credentials, spawnServers, stopSpawned, tempDir, type SpawnedServer } from '../helpers/server.ts';
import { api } from '../helpers/http.ts';
import { execa } from 'execa';

// Servers started together on one etcd share the cluster they make through this secret.
const SECRET = '5ec2e7'.repeat(6);

const IP_KEY = '/registry/ranges/serviceips/';

const ROUNDS = 3;

/** Starts servers on the etcd at once and checks each has the built-in objects; cleans up all. */
async function serversAgree(endpoint: string, count: number, label: string) {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await freePort());
  const dirs = ports.map((p) => tempDir(`boot-${p}`));
  let servers: SpawnedServer[] = [];
  try {
    const args = ['--datastore-endpoint', endpoint, '--agent-port', '0', '--token', SECRET];
    servers = await spawnServers(ports.map((port, i) => ({ dataDir: dirs[i], port, args })));
    for (const s of servers) {
      const c = credentials(s.kubeconfig);
      const svc = (await api(c, 'GET', '/api/v1/namespaces/default/services/kubernetes')).json();
      assert.equal(svc.spec.clusterIP, '10.96.0.1', `${label}: ${s.url}`);
      const ns = (await api(c, 'GET', '/api/v1/namespaces')).json();
      const names = ns.items.map((n: { metadata: { name: string } }) => n.metadata.name);
      for (const want of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) assert.ok(names.includes(want));
    }
  } finally {
    await Promise.all(servers.map(stopSpawned));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

test('three servers started at once on one etcd all come up and agree on the built-in objects', {
  timeout: 300_000,
}, async () => {
  for (let round = 0; round < ROUNDS; round++) {
    const etcd = await startEtcd(1);
    try {
      await serversAgree(etcd.endpoints[0], 3, `round ${round}`);
    } finally {
      await etcd.stop();
    }
  }
});

test('a ClusterIP claimed by a server that died before writing its Service is taken over', {
  timeout: 120_000,
}, async () => {
  const etcd = await startEtcd(1);
  try {
    // What a server leaves when it dies between claiming 10.96.0.1 and writing the Service.
    const claim = JSON.stringify({ owner: 'default/kubernetes', at: new Date(Date.now() - 60_000).toISOString() });
    const put = await execa('etcdctl', ['--endpoints', etcd.endpoints[0], 'put', `${IP_KEY}10.96.0.1`, claim], {
      env: { ETCDCTL_API: '3' },
      reject: false,
      timeout: 10_000,
    });
    assert.equal(put.exitCode, 0, put.stderr);
    await serversAgree(etcd.endpoints[0], 2, 'after a stale claim');
  } finally {
    await etcd.stop();
  }
});
