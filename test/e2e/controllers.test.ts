// Controllers and the scheduler on `skiff sandbox up --nodes 3`, driven by real kubectl:
// Deployments roll within their bounds, roll back and scale; ReplicaSets adopt; unschedulable
// pods say why; cordon and drain move pods; EndpointSlices follow readiness; deletion cascades.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { e2eSandbox, sandboxClient, until } from '../helpers/sandbox.ts';
import type { Obj } from '../../controlplane/shared/kube/object.ts';

const NAME = e2eSandbox('ctl');
const { skiff, k, json } = sandboxClient(NAME);

before(async () => {
  const up = await skiff(['sandbox', 'up', '--name', NAME, '--nodes', '3']);
  assert.equal(up.exitCode, 0, up.all);
});
after(async () => {
  const down = await skiff(['sandbox', 'down', '--name', NAME]);
  assert.equal(down.exitCode, 0, down.all);
});

const isReady = (p: Obj) => (p.status?.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True');
const podsOf = async (sel: string) => (await json(['get', 'pods', '-l', sel])).items as Obj[];

const deployment = (image: string, name = 'roll', replicas = 4, readyAfter = 2) => `
apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: ${name}}}
  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 1}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: ${image}
        command: [sh, -c, 'touch /tmp/ready; exec sleep 3600']
        # Ready a while after start, so a rollout lasts long enough to sample several times even
        # when each kubectl call takes seconds (a loaded 2-core machine sampled 2 s only twice).
        readinessProbe: {exec: {command: [cat, /tmp/ready]}, initialDelaySeconds: ${readyAfter}, periodSeconds: 1}
`;

test(
  'a rolling update keeps replicas - maxUnavailable Ready and never exceeds replicas + maxSurge; rollout ' +
    'status, undo, scale',
  async () => {
    assert.equal((await k(['apply', '-f', '-'], deployment('skiff.local/busybox:1.36', 'roll', 4, 6))).exitCode, 0);
    const st = await k(['rollout', 'status', 'deploy/roll', '--timeout=90s']);
    assert.equal(st.exitCode, 0, st.all);
    const set = await k(['set', 'image', 'deploy/roll', 'web=skiff.local/busybox:latest']);
    assert.equal(set.exitCode, 0, set.all);
    const samples: { ready: number; total: number }[] = [];
    let done = false;
    const status = k(['rollout', 'status', 'deploy/roll', '--timeout=120s']).then((r) => {
      done = true;
      return r;
    });
    while (!done) {
      const pods = (await podsOf('app=roll')).filter(
        (p) => !p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed',
      );
      samples.push({ ready: pods.filter(isReady).length, total: pods.length });
    }
    const r = await status;
    assert.equal(r.exitCode, 0, r.all);
    assert.match(String(r.stdout), /successfully rolled out/);
    assert.ok(samples.length >= 3, `sampled ${samples.length} times`);
    for (const s of samples) {
      assert.ok(s.ready >= 3, `ready ${s.ready} < replicas - maxUnavailable in ${JSON.stringify(samples)}`);
      assert.ok(s.total <= 5, `total ${s.total} > replicas + maxSurge in ${JSON.stringify(samples)}`);
    }
    const pods = (await podsOf('app=roll')).filter((p) => !p.metadata.deletionTimestamp);
    assert.equal(pods.length, 4);
    assert.ok(pods.every((p) => p.spec.containers[0].image === 'skiff.local/busybox:latest'));
    const d = await json(['get', 'deploy', 'roll']);
    assert.deepEqual(
      [d.status.replicas, d.status.updatedReplicas, d.status.readyReplicas, d.status.availableReplicas],
      [4, 4, 4, 4],
    );
    assert.equal(d.metadata.annotations['deployment.kubernetes.io/revision'], '2');

    const hist = await k(['rollout', 'history', 'deploy/roll']);
    assert.match(String(hist.stdout), /1\s+<none>\n2\s+<none>/);
    assert.equal((await k(['rollout', 'undo', 'deploy/roll'])).exitCode, 0);
    assert.equal((await k(['rollout', 'status', 'deploy/roll', '--timeout=120s'])).exitCode, 0);
    const rss = (await json(['get', 'rs', '-l', 'app=roll'])).items as Obj[];
    assert.equal(rss.length, 2, 'undo reuses the first ReplicaSet');
    const back = rss.find((x) => x.spec.template.spec.containers[0].image === 'skiff.local/busybox:1.36')!;
    assert.deepEqual([back.spec.replicas, back.metadata.annotations['deployment.kubernetes.io/revision']], [4, '3']);

    for (const [n, want] of [
      [0, 0],
      [10, 10],
      [3, 3],
    ] as const) {
      assert.equal((await k(['scale', 'deploy/roll', `--replicas=${n}`])).exitCode, 0);
      await until(
        `${want} ready pods after scaling to ${n}`,
        async () => {
          const ps = (await podsOf('app=roll')).filter((p) => !p.metadata.deletionTimestamp);
          return ps.length === want && ps.filter(isReady).length === want;
        },
        90_000,
      );
    }
    const spread = new Set((await podsOf('app=roll')).map((p) => p.spec.nodeName));
    assert.equal(spread.size, 3, 'three replicas spread over three nodes');
  },
);

test('a ReplicaSet adopts a matching pod and creates only the rest', async () => {
  await k([
    'run',
    'stray',
    '--image=skiff.local/busybox:1.36',
    '--labels=app=adopt',
    '--overrides={"spec":{"terminationGracePeriodSeconds":1}}',
    '--',
    'sleep',
    '3600',
  ]);
  await until('stray scheduled', async () => (await json(['get', 'pod', 'stray'])).spec.nodeName);
  await k(
    ['apply', '-f', '-'],
    `
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: adopter}
spec:
  replicas: 2
  selector: {matchLabels: {app: adopt}}
  template:
    metadata: {labels: {app: adopt}}
    spec: {terminationGracePeriodSeconds: 1, containers: [{name: c, image: skiff.local/busybox:1.36, ` +
      `command: [sleep, "3600"]}]}
`,
  );
  const pods = await until(
    'two pods owned by the ReplicaSet',
    async () => {
      const ps = (await podsOf('app=adopt')).filter((p) => !p.metadata.deletionTimestamp);
      return ps.length === 2 && ps.every((p) => p.metadata.ownerReferences?.[0]?.name === 'adopter') && ps;
    },
    30_000,
  );
  assert.ok(pods.some((p: Obj) => p.metadata.name === 'stray'));
  // Foreground deletion: the pods go before the ReplicaSet does.
  const del = await k(['delete', 'rs', 'adopter', '--cascade=foreground', '--timeout=60s']);
  assert.equal(del.exitCode, 0, del.all);
  await until('the adopted pods deleted', async () => (await podsOf('app=adopt')).length === 0, 60_000);
});

test('an unschedulable pod explains why; cordon and drain move pods away', async () => {
  await k(
    ['apply', '-f', '-'],
    `
apiVersion: v1
kind: Pod
metadata: {name: huge}
spec:
  containers: [{name: c, image: skiff.local/busybox:1.36, command: [sleep, "3600"], resources: {requests: ` +
      `{cpu: "500"}}}]
`,
  );
  const cond = await until('PodScheduled=False', async () =>
    (await json(['get', 'pod', 'huge'])).status?.conditions?.find(
      (c: Obj) => c.type === 'PodScheduled' && c.status === 'False',
    ),
  );
  assert.equal(cond.reason, 'Unschedulable');
  assert.equal(cond.message, '0/3 nodes are available: 3 Insufficient cpu.');
  const desc = await until('the event in describe', async () => {
    const d = String((await k(['describe', 'pod', 'huge'])).stdout);
    return /FailedScheduling\s.*0\/3 nodes are available: 3 Insufficient cpu\./.test(d) && d;
  });
  assert.ok(desc);
  await k(['delete', 'pod', 'huge', '--grace-period=0']);

  await k(['apply', '-f', '-'], deployment('skiff.local/busybox:1.36', 'drainme', 6));
  assert.equal((await k(['rollout', 'status', 'deploy/drainme', '--timeout=90s'])).exitCode, 0);
  assert.ok((await podsOf('app=drainme')).filter((p) => p.spec.nodeName === 'node1').length >= 2);
  await k(
    ['apply', '-f', '-'],
    `
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: drainme}
spec: {minAvailable: 5, selector: {matchLabels: {app: drainme}}}
`,
  );
  await until(
    'the budget allows one disruption',
    async () => (await json(['get', 'pdb', 'drainme'])).status?.disruptionsAllowed === 1,
  );
  assert.equal((await k(['cordon', 'node1'])).exitCode, 0);
  assert.equal((await json(['get', 'node', 'node1'])).spec.unschedulable, true);
  const drain = await k(['drain', 'node1', '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=90s']);
  assert.equal(drain.exitCode, 0, drain.all);
  assert.match(String(drain.all), /evicted/);
  assert.match(
    String(drain.all),
    /Cannot evict pod as it would violate the pod's disruption budget/,
    'the second eviction waited for the budget',
  );
  await until(
    'all six ready elsewhere',
    async () => {
      const ps = (await podsOf('app=drainme')).filter((p) => !p.metadata.deletionTimestamp);
      return ps.length === 6 && ps.every((p) => isReady(p) && p.spec.nodeName !== 'node1');
    },
    90_000,
  );
  assert.equal((await k(['uncordon', 'node1'])).exitCode, 0);
  // Deleting the Deployment takes its ReplicaSets and pods with it (background propagation).
  await k(['delete', 'deploy,pdb', 'drainme']);
  await until(
    'the cascade',
    async () =>
      (await podsOf('app=drainme')).length === 0 && (await json(['get', 'rs', '-l', 'app=drainme'])).items.length === 0,
    60_000,
  );
});

test('EndpointSlices and Endpoints follow pod readiness; the kubernetes Service points at the API server', async () => {
  await k(
    ['apply', '-f', '-'],
    deployment('skiff.local/busybox:1.36', 'eps', 2) +
      `
        ports: [{name: web, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: eps}
spec:
  selector: {app: eps}
  ports: [{name: http, port: 80, targetPort: web}]
`,
  );
  assert.equal((await k(['rollout', 'status', 'deploy/eps', '--timeout=90s'])).exitCode, 0);
  const slice = async () =>
    (await json(['get', 'endpointslices', '-l', 'kubernetes.io/service-name=eps'])).items as Obj[];
  const both = await until(
    'two ready endpoints on port 8080',
    async () => {
      const s = await slice();
      return (
        s.length === 1 &&
        s[0].ports[0].port === 8080 &&
        s[0].endpoints?.length === 2 &&
        s[0].endpoints.every((e: Obj) => e.conditions.ready) &&
        s[0]
      );
    },
    30_000,
  );
  assert.equal(both.metadata.ownerReferences[0].kind, 'Service');
  const victim = both.endpoints[0].targetRef.name;
  await k(['exec', victim, '--', 'rm', '/tmp/ready']);
  await until(
    'the endpoint not ready',
    async () => {
      const e = (await slice())[0].endpoints.find((x: Obj) => x.targetRef.name === victim);
      return e && e.conditions.ready === false && e.conditions.serving === false;
    },
    30_000,
  );
  const ep = await json(['get', 'endpoints', 'eps']);
  assert.deepEqual([ep.subsets[0].addresses.length, ep.subsets[0].notReadyAddresses.length], [1, 1]);
  await k(['exec', victim, '--', 'touch', '/tmp/ready']);
  await until('ready again', async () => (await slice())[0].endpoints.every((x: Obj) => x.conditions.ready), 30_000);
  const kube = await json(['get', 'endpoints', 'kubernetes']);
  assert.equal(kube.subsets[0].ports[0].port, 6443);
  const sa = await json(['get', 'serviceaccount', 'default']);
  assert.equal(sa.metadata.name, 'default');
});

test(
  'a StatefulSet creates web-0..2 in order with their claims, ' + 'keeps data across scale-down, deletes in reverse',
  async () => {
    await k(
      ['apply', '-f', '-'],
      `
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {clusterIP: None, selector: {app: sts}, ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 3
  selector: {matchLabels: {app: sts}}
  template:
    metadata: {labels: {app: sts}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: skiff.local/busybox:1.36
        command: [sh, -c, 'hostname >> /data/names; exec sleep 3600']
        readinessProbe: {exec: {command: ["true"]}, initialDelaySeconds: 1, periodSeconds: 1}
        volumeMounts: [{name: data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
`,
    );
    const r = await k(['rollout', 'status', 'sts/web', '--timeout=90s']);
    assert.equal(r.exitCode, 0, r.all);
    const pods = ((await json(['get', 'pods', '-l', 'app=sts'])).items as Obj[]).sort((a, b) =>
      a.metadata.name.localeCompare(b.metadata.name),
    );
    assert.deepEqual(
      pods.map((p) => p.metadata.name),
      ['web-0', 'web-1', 'web-2'],
    );
    const created = pods.map((p) => Date.parse(p.metadata.creationTimestamp));
    const readyAt = pods.map((p) =>
      Date.parse(p.status.conditions.find((c: Obj) => c.type === 'Ready').lastTransitionTime),
    );
    assert.ok(
      created[1] >= readyAt[0] && created[2] >= readyAt[1],
      'each pod is created after the one before is Ready',
    );
    assert.deepEqual(
      pods.map((p) => [p.spec.hostname, p.spec.subdomain]),
      [
        ['web-0', 'web'],
        ['web-1', 'web'],
        ['web-2', 'web'],
      ],
    );
    const claims = (await json(['get', 'pvc'])).items as Obj[];
    assert.deepEqual(claims.map((c) => [c.metadata.name, c.status.phase, c.spec.storageClassName]).sort(), [
      ['data-web-0', 'Bound', 'local-path'],
      ['data-web-1', 'Bound', 'local-path'],
      ['data-web-2', 'Bound', 'local-path'],
    ]);
    const node1 = pods[1].spec.nodeName;

    // Scale down removes web-2 first, then web-1; the claims stay.
    assert.equal((await k(['scale', 'sts/web', '--replicas=1'])).exitCode, 0);
    const order: string[] = [];
    await until(
      'only web-0 left',
      async () => {
        const names = ((await json(['get', 'pods', '-l', 'app=sts'])).items as Obj[])
          .filter((p) => !p.metadata.deletionTimestamp)
          .map((p) => p.metadata.name);
        for (const n of ['web-2', 'web-1']) if (!names.includes(n) && !order.includes(n)) order.push(n);
        return names.length === 1 && names[0] === 'web-0';
      },
      60_000,
    );
    assert.deepEqual(order, ['web-2', 'web-1']);
    assert.equal(((await json(['get', 'pvc'])).items as Obj[]).length, 3, 'claims are kept on scale-down');
    // Back up: web-1 returns to its volume on the same node, with its data.
    assert.equal((await k(['scale', 'sts/web', '--replicas=3'])).exitCode, 0);
    assert.equal((await k(['rollout', 'status', 'sts/web', '--timeout=90s'])).exitCode, 0);
    assert.equal((await json(['get', 'pod', 'web-1'])).spec.nodeName, node1);
    assert.equal(String((await k(['exec', 'web-1', '--', 'cat', '/data/names'])).stdout).trim(), 'web-1\nweb-1');
    // A claim deleted after scale-down takes its volume with it (reclaimPolicy Delete).
    assert.equal((await k(['scale', 'sts/web', '--replicas=2'])).exitCode, 0);
    await until(
      'web-2 gone',
      async () =>
        !((await json(['get', 'pods', '-l', 'app=sts'])).items as Obj[]).some((p) => p.metadata.name === 'web-2'),
      60_000,
    );
    const pv2 = (await json(['get', 'pvc', 'data-web-2'])).spec.volumeName as string;
    await k(['delete', 'pvc', 'data-web-2']);
    await until(
      'its volume deleted',
      async () => !((await json(['get', 'pv'])).items as Obj[]).some((v) => v.metadata.name === pv2),
      60_000,
    );
    // A new image rolls out (web-1, then web-0), shows in the history, and undo brings the old one back.
    assert.equal((await k(['set', 'image', 'sts/web', 'c=skiff.local/busybox:latest'])).exitCode, 0);
    assert.equal((await k(['rollout', 'status', 'sts/web', '--timeout=120s'])).exitCode, 0);
    assert.deepEqual(
      ((await json(['get', 'pods', '-l', 'app=sts'])).items as Obj[]).map((p) => p.spec.containers[0].image),
      ['skiff.local/busybox:latest', 'skiff.local/busybox:latest'],
    );
    assert.match(String((await k(['rollout', 'history', 'sts/web'])).stdout), /1\s+<none>\n2\s+<none>/);
    const undo = await k(['rollout', 'undo', 'sts/web']);
    assert.equal(undo.exitCode, 0, undo.all);
    assert.equal((await k(['rollout', 'status', 'sts/web', '--timeout=120s'])).exitCode, 0);
    assert.equal(
      (await json(['get', 'sts', 'web'])).spec.template.spec.containers[0].image,
      'skiff.local/busybox:1.36',
    );
  },
);
