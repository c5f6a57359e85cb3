// Nodes and batch work on `skiff sandbox up --nodes 3` with the node monitor shortened by flags
// (grace 20 s, default toleration 5 s), driven by real kubectl: pod subnets for registering
// nodes, DaemonSets on every node including one added later, Jobs (parallel and Indexed), a
// CronJob firing, and a node whose agent dies: Ready=Unknown, tainted, its pods evicted and
// recreated elsewhere, and all well again once the agent is back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadState, restartAgent } from '../../agent/sandbox/sandbox.ts';
import { e2eSandbox, sandboxClient, until } from '../helpers/sandbox.ts';
import type { Obj } from '../../controlplane/shared/kube/object.ts';

const NAME = e2eSandbox('nodes');
const { skiff, k, json } = sandboxClient(NAME);

before(async () => {
  const up = await skiff([
    'sandbox',
    'up',
    '--name',
    NAME,
    '--nodes',
    '3',
    '--server-arg=--node-monitor-grace-period=20',
    '--server-arg=--default-toleration-seconds=5',
  ]);
  assert.equal(up.exitCode, 0, up.all);
});
after(async () => {
  const down = await skiff(['sandbox', 'down', '--name', NAME]);
  assert.equal(down.exitCode, 0, down.all);
});

const nodeObj = (name: string) => `{"apiVersion":"v1","kind":"Node","metadata":{"name":"${name}"}}`;

test('a registering node gets its own pod subnet, released when the node is deleted', async () => {
  const nodes = (await json(['get', 'nodes'])).items as Obj[];
  assert.deepEqual(nodes.map((n) => n.spec.podCIDR).sort(), ['10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24']);
  await k(['create', '-f', '-'], nodeObj('extra-a'));
  await k(['create', '-f', '-'], nodeObj('extra-b'));
  const a = await until('extra-a subnet', async () => (await json(['get', 'node', 'extra-a'])).spec?.podCIDR);
  const b = await until('extra-b subnet', async () => (await json(['get', 'node', 'extra-b'])).spec?.podCIDR);
  assert.notEqual(a, b);
  for (const s of [a, b])
    assert.ok(!['10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24'].includes(s), `${s} is already a node's`);
  await k(['delete', 'node', 'extra-a']);
  // The release is asynchronous: register nodes until one gets the released subnet (deadline).
  await until(
    'the released subnet to be given to a new node',
    async () => {
      await k(['create', '-f', '-'], nodeObj('extra-c'));
      const got = await until('extra-c subnet', async () => (await json(['get', 'node', 'extra-c'])).spec?.podCIDR);
      if (got === a) return true;
      await k(['delete', 'node', 'extra-c', '--wait']);
      return false;
    },
    30_000,
  );
  await k(['delete', 'node', 'extra-b', 'extra-c']);
});

test('a DaemonSet runs one pod per node, also on a node added later', async () => {
  await k(
    ['apply', '-f', '-'],
    `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: everywhere}
spec:
  selector: {matchLabels: {app: everywhere}}
  template:
    metadata: {labels: {app: everywhere}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: c, image: skiff.local/busybox:1.36, command: [sleep, "3600"]}]
`,
  );
  const r = await k(['rollout', 'status', 'ds/everywhere', '--timeout=60s']);
  assert.equal(r.exitCode, 0, r.all);
  const pods = (await json(['get', 'pods', '-l', 'app=everywhere'])).items as Obj[];
  assert.deepEqual(pods.map((p) => p.spec.nodeName).sort(), ['node1', 'node2', 'node3']);
  await k(['create', '-f', '-'], nodeObj('late'));
  const late = await until('a daemon pod for the new node', async () =>
    ((await json(['get', 'pods', '-l', 'app=everywhere'])).items as Obj[]).find((p) => p.spec.nodeName === 'late'),
  );
  assert.ok(late.spec.tolerations.some((t: Obj) => t.key === 'node.kubernetes.io/unreachable'));
  assert.equal((await json(['get', 'ds', 'everywhere'])).status.desiredNumberScheduled, 4);
  await k(['delete', 'node', 'late']);
  await until(
    'the daemon pod of the deleted node gone',
    async () =>
      !((await json(['get', 'pods', '-l', 'app=everywhere'])).items as Obj[]).some(
        (p) => p.spec.nodeName === 'late' && !p.metadata.deletionTimestamp,
      ),
  );
});

test('Jobs: completions 5 with parallelism 2, an Indexed Job, and a CronJob that fires', async () => {
  await k(
    ['apply', '-f', '-'],
    `
apiVersion: batch/v1
kind: Job
metadata: {name: five}
spec:
  completions: 5
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: skiff.local/busybox:1.36, command: [sh, -c, 'sleep 1']}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: indexed}
spec:
  completions: 3
  parallelism: 3
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: skiff.local/busybox:1.36, command: [sh, -c, 'echo index=$JOB_COMPLETION_INDEX']}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: fails}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: skiff.local/busybox:1.36, command: [sh, -c, 'exit 1']}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: c, image: skiff.local/busybox:1.36, command: [date]}]
`,
  );
  // At most two of the five run at once.
  let most = 0;
  await until(
    'five completions',
    async () => {
      const j = await json(['get', 'job', 'five']);
      most = Math.max(most, j.status?.active ?? 0);
      return (
        j.status?.succeeded === 5 && j.status.conditions?.some((c: Obj) => c.type === 'Complete' && c.status === 'True')
      );
    },
    90_000,
  );
  assert.ok(most <= 2, `active reached ${most}`);
  const w = await k(['wait', '--for=condition=complete', 'job/indexed', '--timeout=60s']);
  assert.equal(w.exitCode, 0, w.all);
  const idx = await json(['get', 'job', 'indexed']);
  assert.equal(idx.status.completedIndexes, '0-2');
  const logs = await Promise.all(
    ((await json(['get', 'pods', '-l', 'job-name=indexed'])).items as Obj[]).map(async (p) =>
      String((await k(['logs', p.metadata.name])).stdout).trim(),
    ),
  );
  assert.deepEqual(logs.sort(), ['index=0', 'index=1', 'index=2']);
  const failed = await until(
    'the failing Job to give up',
    async () =>
      (await json(['get', 'job', 'fails'])).status?.conditions?.find(
        (c: Obj) => c.type === 'Failed' && c.status === 'True',
      ),
    60_000,
  );
  assert.equal(failed.reason, 'BackoffLimitExceeded');
  const fired = await until(
    'the CronJob to fire',
    async () =>
      ((await json(['get', 'jobs'])).items as Obj[]).find((j) => j.metadata.ownerReferences?.[0]?.kind === 'CronJob'),
    75_000,
  );
  assert.match(fired.metadata.name, /^tick-\d+$/);
  await until(
    'its run to complete and show in the CronJob status',
    async () => (await json(['get', 'cronjob', 'tick'])).status?.lastSuccessfulTime,
    60_000,
  );
  await k(['delete', 'cronjob', 'tick']);
});

test(
  'a node whose agent dies goes Unknown and tainted; ' + 'its pods are evicted and run elsewhere; it recovers',
  async () => {
    await k(
      ['apply', '-f', '-'],
      `
apiVersion: apps/v1
kind: Deployment
metadata: {name: moving}
spec:
  replicas: 3
  selector: {matchLabels: {app: moving}}
  template:
    metadata: {labels: {app: moving}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: c, image: skiff.local/busybox:1.36, command: [sleep, "3600"]}]
`,
    );
    assert.equal((await k(['rollout', 'status', 'deploy/moving', '--timeout=60s'])).exitCode, 0);
    const s = loadState(NAME)!;
    const victim = 'node3';
    const pid = s.pids.find((p) => p.role === `agent-${victim}`)!.pid;
    process.kill(pid, 'SIGKILL');
    const node = await until(
      'node3 Ready=Unknown and tainted',
      async () => {
        const n = await json(['get', 'node', victim]);
        const ready = n.status.conditions.find((c: Obj) => c.type === 'Ready');
        return (
          ready?.status === 'Unknown' &&
          (n.spec.taints ?? []).some(
            (t: Obj) => t.key === 'node.kubernetes.io/unreachable' && t.effect === 'NoExecute',
          ) &&
          n
        );
      },
      60_000,
    );
    assert.ok(node);
    await until(
      'three moving pods ready on the other nodes',
      async () => {
        const ps = ((await json(['get', 'pods', '-l', 'app=moving'])).items as Obj[]).filter(
          (p) => !p.metadata.deletionTimestamp,
        );
        return (
          ps.length === 3 &&
          ps.every(
            (p) =>
              p.spec.nodeName !== victim &&
              p.status?.conditions?.some((c: Obj) => c.type === 'Ready' && c.status === 'True'),
          )
        );
      },
      60_000,
    );
    await restartAgent(NAME, victim);
    await until(
      'node3 Ready again without the taint',
      async () => {
        const n = await json(['get', 'node', victim]);
        return (
          n.status.conditions.find((c: Obj) => c.type === 'Ready')?.status === 'True' && !(n.spec.taints ?? []).length
        );
      },
      60_000,
    );
    await until(
      'the evicted pod finally removed by its agent',
      async () => ((await json(['get', 'pods', '-l', 'app=moving'])).items as Obj[]).length === 3,
      60_000,
    );
  },
);
