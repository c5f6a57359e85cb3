// An agent's API client and push channel given two servers of one cluster (real server processes
// on one etcd): when the server in use is SIGKILLed (connections reset) or SIGSTOPped (no answer
// at all), both move to the other within seconds, and the channel resumes from its resourceVersion
// (no new snapshot) and still delivers new pods.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startEtcd } from '../helpers/etcd.ts';
import { credentials, spawnServer, stopSpawned, tempDir, type SpawnedServer } from '../helpers/server.ts';
import { api } from '../helpers/http.ts';
import { until } from '../helpers/sandbox.ts';
import { joinCluster } from '../../agent/join.ts';
import { ApiClient } from '../../agent/api.ts';
import { ChannelClient } from '../../agent/channel.ts';

const pod = (name: string) =>
  JSON.stringify({
    metadata: { name },
    spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'skiff.local/busybox:1.36' }] },
  });

async function failover(signal: 'SIGKILL' | 'SIGSTOP', channelWithinMs: number) {
  const etcd = await startEtcd(1);
  const dir = tempDir('failover');
  const servers: SpawnedServer[] = [];
  const logs: string[] = [];
  const log = (s: string) => logs.push(`${Date.now()} ${s}`);
  let client: ApiClient | null = null;
  let channel: ChannelClient | null = null;
  try {
    const ports = [await freePort(), await freePort()];
    const chans = [await freePort(), await freePort()];
    const flags = (i: number) => ['--datastore-endpoint', etcd.endpoints[0], '--agent-port', String(chans[i])];
    servers.push(await spawnServer(join(dir, 'a'), ports[0], flags(0)));
    const token = readFileSync(join(dir, 'a', 'data', 'token'), 'utf8').trim();
    servers.push(await spawnServer(join(dir, 'b'), ports[1], [...flags(1), '--token', token]));
    const admin = credentials(servers[1].kubeconfig);
    const urls = ports.map((p) => `https://127.0.0.1:${p}`);
    const creds = await joinCluster(urls.join(','), token, 'n1', join(dir, 'agent'));
    client = new ApiClient(creds.server, creds.ca, creds.token, log);
    assert.equal((await api(admin, 'POST', '/api/v1/namespaces/default/pods', pod('before'))).status, 201);
    channel = new ChannelClient(chans.map((c) => `127.0.0.1:${c}`).join(','), creds.ca, creds.token, 'n1', log);
    channel.start();
    const c = channel;
    await until('the snapshot', async () => c.state.synced && c.state.pods.has('default/before'), 20_000);
    assert.equal(client.server, urls[0]);
    assert.ok(
      logs.some((l) => l.endsWith(`push channel: connected to 127.0.0.1:${chans[0]}`)),
      logs.join('\n'),
    );
    const snapshotPods = c.state.pods;

    const t0 = Date.now();
    servers[0].proc.kill(signal);
    // The API client: the first request after the kill is answered by the other server.
    const nodes = await client.get<{ kind: string }>('/api/v1/nodes');
    assert.equal(nodes.kind, 'NodeList');
    assert.equal(client.server, urls[1]);
    assert.ok(
      logs.some((l) => l.includes(`API server ${urls[0]} failed`)),
      logs.join('\n'),
    );
    // The channel: connected to the other server within seconds, and new pods still arrive.
    await until(
      'the channel on the other server',
      async () => logs.some((l) => l.endsWith(`push channel: connected to 127.0.0.1:${chans[1]}`)),
      channelWithinMs,
    );
    const took = Date.now() - t0;
    assert.equal((await api(admin, 'POST', '/api/v1/namespaces/default/pods', pod('after'))).status, 201);
    await until('the new pod on the channel', async () => c.state.pods.has('default/after'), 15_000);
    assert.equal(c.state.pods, snapshotPods, 'resumed: no new snapshot replaced the pods');
    assert.equal(c.connects, 2, 'one stream before the kill, one after (no duplicate left open)');
    assert.ok(c.state.pods.has('default/before'));
    console.log(`${signal}: channel connected to the other server ${took} ms after the signal`);
  } finally {
    channel?.stop();
    client?.close();
    for (const s of servers) await stopSpawned(s).catch(() => {});
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('API client and push channel fail over to the next server when theirs is killed', { timeout: 240_000 }, () =>
  failover('SIGKILL', 10_000),
);

// A frozen server answers nothing: the API client gives up after 10 s, the channel when a 10 s
// keepalive ping goes unanswered for 5 s.
test('API client and push channel fail over when their server stops answering', { timeout: 240_000 }, () =>
  failover('SIGSTOP', 25_000),
);
