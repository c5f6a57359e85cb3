// High availability on `skiff sandbox up --servers 3 --nodes 2`: three servers on a three-member
// etcd, agents given all three. The server node1's agent is connected to is SIGKILLed; the agent's
// push channel is on another server within 20 s, kubectl through a surviving server works, a new
// pod for node1 runs, and the pods already there never restarted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadState } from '../../agent/sandbox/sandbox.ts';
import { sandboxClient, until } from '../helpers/sandbox.ts';
import type { Obj } from '../../controlplane/shared/kube/object.ts';

const NAME = 'ha2';
const { skiff, k } = sandboxClient(NAME);

before(async () => {
  if (loadState(NAME)) await skiff(['sandbox', 'down', '--name', NAME]);
  const up = await skiff(['sandbox', 'up', '--name', NAME, '--nodes', '2', '--servers', '3']);
  assert.equal(up.exitCode, 0, up.all);
});
after(async () => {
  const down = await skiff(['sandbox', 'down', '--name', NAME]);
  assert.equal(down.exitCode, 0, down.all);
});

const DEPLOYMENT = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: steady}
spec:
  replicas: 2
  selector: {matchLabels: {app: steady}}
  template:
    metadata: {labels: {app: steady}}
    spec:
      nodeSelector: {kubernetes.io/hostname: node1}
      terminationGracePeriodSeconds: 1
      containers: [{name: c, image: skiff.local/busybox:1.36, command: [sleep, "3600"]}]
`;
const LATE = `
apiVersion: v1
kind: Pod
metadata: {name: late}
spec:
  nodeSelector: {kubernetes.io/hostname: node1}
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: skiff.local/busybox:1.36, command: [sleep, "3600"]}]
`;

/** uid, container ID and restart count of each Running pod of the Deployment. */
const fingerprint = (pods: Obj[]) =>
  pods
    .map((p) => ({
      uid: p.metadata.uid as string,
      node: p.spec.nodeName as string,
      phase: p.status?.phase as string,
      id: p.status?.containerStatuses?.[0]?.containerID as string,
      restarts: p.status?.containerStatuses?.[0]?.restartCount as number,
    }))
    .sort((a, b) => a.uid.localeCompare(b.uid));

test('killing the server an agent is connected to: the agent fails over, pods keep running', async () => {
  const s = loadState(NAME)!;
  assert.equal(s.servers?.length, 3, 'three servers');
  const logFile = join(s.dir, 'agent-node1.log');
  const channelServers = (from = 0) =>
    [
      ...readFileSync(logFile, 'utf8')
        .slice(from)
        .matchAll(/push channel: connected to ([\d.]+):\d+/g),
    ].map((m) => m[1]);
  const kAt = (url: string, args: string[], input?: string) => k(['--server', url, ...args], input);
  const podsAt = async (url: string) =>
    JSON.parse(String((await kAt(url, ['get', 'pods', '-l', 'app=steady', '-o', 'json'])).stdout)).items as Obj[];

  assert.equal((await k(['apply', '-f', '-'], DEPLOYMENT)).exitCode, 0);
  const before = await until(
    'two steady pods Running on node1',
    async () => {
      const f = fingerprint(await podsAt(s.servers![0].url));
      return f.length === 2 && f.every((p) => p.phase === 'Running' && p.id && p.node === 'node1') && f;
    },
    120_000,
  );

  // The server node1's channel is connected to (its last "connected to" line), killed by PID.
  const ip = await until('node1 connected to a server', async () => channelServers().at(-1), 20_000);
  const victim = s.servers!.find((x) => x.ip === ip)!;
  assert.ok(victim, `node1 is connected to ${ip}, one of the servers`);
  const survivor = s.servers!.find((x) => x !== victim)!;
  const pid = s.pids.find((p) => p.role === victim.role)!.pid;
  const mark = readFileSync(logFile, 'utf8').length;
  const t0 = Date.now();
  process.kill(pid, 'SIGKILL');
  await until(
    'the killed server to be gone',
    async () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    },
    5_000,
  );

  // The channel is on another server within 20 s.
  const now = await until(
    'node1 channel on another server',
    async () => channelServers(mark).find((x) => x !== victim.ip),
    20_000,
  );
  const took = Date.now() - t0;
  console.log(`node1's channel moved from ${victim.ip} to ${now} in ${took} ms`);
  assert.notEqual(now, victim.ip);

  // kubectl through a surviving server works; a new pod for node1 runs (the channel delivers it,
  // the API client reports its status).
  assert.equal((await kAt(survivor.url, ['get', 'nodes'])).exitCode, 0);
  assert.equal((await kAt(survivor.url, ['apply', '-f', '-'], LATE)).exitCode, 0);
  await until(
    'the new pod Running on node1',
    async () => {
      const p = JSON.parse(String((await kAt(survivor.url, ['get', 'pod', 'late', '-o', 'json'])).stdout));
      return p.spec?.nodeName === 'node1' && p.status?.phase === 'Running';
    },
    90_000,
  );

  // The pods that were there never restarted: same UIDs, same containers, no restarts.
  const after = fingerprint(await podsAt(survivor.url));
  assert.deepEqual(after, before);
  assert.ok(after.every((p) => p.restarts === 0));
  const node = JSON.parse(String((await kAt(survivor.url, ['get', 'node', 'node1', '-o', 'json'])).stdout));
  assert.equal(node.status.conditions.find((c: { type: string }) => c.type === 'Ready')?.status, 'True');
});
