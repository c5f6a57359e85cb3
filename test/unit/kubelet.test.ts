import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expand, expandCommand, resolveEnv, EnvError } from '../../agent/kubelet/env.ts';
import { quantity } from '../../controlplane/shared/resources.ts';
import { type BackoffEntry, nextBackoff } from '../../agent/kubelet/backoff.ts';
import { computeStatus, type PodRuntime, type RuntimeContainer } from '../../agent/kubelet/status.ts';
import {
  cgroupParent,
  containerConfig,
  dnsConfig,
  nonRootViolation,
  resources,
  sandboxConfig,
} from '../../agent/kubelet/pod-spec.ts';
import { initialState, observe } from '../../agent/kubelet/probe.ts';
import { volumeFiles } from '../../agent/kubelet/volumes.ts';
import { rotatedToDelete } from '../../agent/kubelet/log-rotation.ts';
import type { ConfigMap, Pod, Secret } from '../../controlplane/shared/kube/index.ts';

const pod: Pod = {
  metadata: { name: 'p', namespace: 'ns', uid: 'u-1', labels: { app: 'x' } },
  spec: {
    nodeName: 'n1',
    serviceAccountName: 'default',
    containers: [{ name: 'c', image: 'i', resources: { limits: { cpu: '500m', memory: '64Mi' } } }],
  },
};
const sources = {
  pod,
  podIP: '10.244.1.5',
  hostIP: '10.250.0.11',
  configMap: (n: string): ConfigMap | undefined =>
    n === 'cm' ? { metadata: { name: 'cm' }, data: { a: 'A', b: 'B' } } : undefined,
  secret: (n: string): Secret | undefined =>
    n === 's' ? { metadata: { name: 's' }, data: { pw: Buffer.from('pa55').toString('base64') } } : undefined,
};

test('$(VAR) expansion as Kubernetes does it', () => {
  const v = new Map([
    ['A', 'x'],
    ['B', 'y'],
  ]);
  const cases: [string, string][] = [
    ['$(A)', 'x'],
    ['$(A)-$(B)', 'x-y'],
    ['$(C)', '$(C)'],
    ['$$(A)', '$(A)'],
    ['a$b', 'a$b'],
    ['$(A', '$(A'],
  ];
  for (const [i, o] of cases) assert.equal(expand(i, v), o, i);
});

test(
  'env resolution: literal, configMap, secret, fieldRef, ' + 'resourceFieldRef, envFrom, optional and missing refs',
  () => {
    const env = resolveEnv(
      {
        name: 'c',
        resources: { limits: { cpu: '500m', memory: '64Mi' } },
        envFrom: [{ configMapRef: { name: 'cm' }, prefix: 'CM_' }],
        env: [
          { name: 'LIT', value: 'v-$(CM_a)' },
          { name: 'FROM_CM', valueFrom: { configMapKeyRef: { name: 'cm', key: 'b' } } },
          { name: 'PW', valueFrom: { secretKeyRef: { name: 's', key: 'pw' } } },
          { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
          { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
          { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
          { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '1m' } } },
          { name: 'OPT', valueFrom: { configMapKeyRef: { name: 'nope', key: 'x', optional: true } } },
        ],
      },
      sources,
    );
    assert.deepEqual(Object.fromEntries(env.map((e) => [e.key, e.value])), {
      CM_a: 'A',
      CM_b: 'B',
      LIT: 'v-A',
      FROM_CM: 'B',
      PW: 'pa55',
      IP: '10.244.1.5',
      APP: 'x',
      NODE: 'n1',
      MEM: '64',
      CPU: '500',
    });
    assert.throws(
      () =>
        resolveEnv(
          { name: 'c', env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'missing', key: 'k' } } }] },
          sources,
        ),
      EnvError,
    );
    assert.throws(
      () =>
        resolveEnv(
          { name: 'c', env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cm', key: 'zz' } } }] },
          sources,
        ),
      /couldn't find key zz/,
    );
    assert.deepEqual(expandCommand(['echo', '$(LIT)'], env), ['echo', 'v-A']);
    assert.equal(quantity('1Gi'), 1024 ** 3);
    assert.equal(quantity('250m'), 0.25);
  },
);

test('crash-loop back-off: immediate, then 10 s doubling to 300 s, reset after 10 minutes running', () => {
  let e: BackoffEntry | undefined;
  let t = 1_000_000;
  const delays: number[] = [];
  for (let i = 0; i < 8; i++) {
    e = nextBackoff(e, t, 1000);
    delays.push(e.until - t);
    t = e.until + 1000;
  }
  assert.deepEqual(delays, [0, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
  e = nextBackoff(e, t + 5, 11 * 60_000);
  assert.equal(e.until - (t + 5), 0, 'a long run resets the back-off');
  assert.equal(nextBackoff(e, t + 5, 1000), e, 'the same exit is not counted twice');
});

const rc = (over: Partial<RuntimeContainer>): RuntimeContainer => ({
  name: 'c',
  id: 'id1',
  attempt: 0,
  state: 'CONTAINER_RUNNING',
  image: 'i',
  imageRef: 'sha256:x',
  startedAt: 't0',
  ...over,
});
const rt = (
  containers: [string, RuntimeContainer, RuntimeContainer?][],
  waiting: [string, string][] = [],
): PodRuntime => ({
  sandboxReady: true,
  podIP: '10.244.1.5',
  hostIP: '10.250.0.11',
  containers: new Map(containers.map(([n, latest, previous]) => [n, { latest, previous }])),
  waiting: new Map(waiting.map(([n, r]) => [n, { reason: r, message: '' }])),
});

test('pod status: phase, conditions and container states by restart policy', () => {
  const running = computeStatus(pod, rt([['c', rc({})]]), {}, 'now');
  assert.equal(running.phase, 'Running');
  assert.equal(running.podIP, '10.244.1.5');
  assert.deepEqual(
    // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
    running.conditions.map((c: any) => `${c.type}=${c.status}`),
    ['PodReadyToStartContainers=True', 'Initialized=True', 'Ready=True', 'ContainersReady=True', 'PodScheduled=True'],
  );
  const exited = (code: number) => rc({ state: 'CONTAINER_EXITED', exitCode: code, finishedAt: 't1' });
  const never = (code: number) =>
    computeStatus({ ...pod, spec: { ...pod.spec, restartPolicy: 'Never' } }, rt([['c', exited(code)]]), {}, 'now');
  assert.equal(never(0).phase, 'Succeeded');
  assert.equal(never(1).phase, 'Failed');
  assert.equal(never(1).containerStatuses[0].state.terminated?.reason, 'Error');
  assert.equal(
    computeStatus({ ...pod, spec: { ...pod.spec, restartPolicy: 'OnFailure' } }, rt([['c', exited(0)]]), {}, 'now')
      .phase,
    'Succeeded',
  );
  const crash = computeStatus(
    pod,
    rt([['c', exited(2), rc({ attempt: 0, state: 'CONTAINER_EXITED', exitCode: 2 })]], [['c', 'CrashLoopBackOff']]),
    {},
    'now',
  );
  assert.equal(crash.phase, 'Running');
  assert.equal(crash.containerStatuses[0].state.waiting?.reason, 'CrashLoopBackOff');
  assert.equal(crash.containerStatuses[0].lastState?.terminated?.exitCode, 2);
  const oom = computeStatus(
    { ...pod, spec: { ...pod.spec, restartPolicy: 'Never' } },
    rt([['c', rc({ state: 'CONTAINER_EXITED', exitCode: 137, reason: 'OOMKilled' })]]),
    {},
    'now',
  );
  assert.equal(oom.containerStatuses[0].state.terminated?.reason, 'OOMKilled');
  const creating = computeStatus(pod, rt([]), {}, 'now');
  assert.equal(creating.phase, 'Pending');
  assert.equal(creating.containerStatuses[0].state.waiting?.reason, 'ContainerCreating');
  const stay = computeStatus(pod, rt([['c', rc({})]]), { phase: 'Running', conditions: running.conditions }, 'later');
  assert.equal(stay.conditions[2].lastTransitionTime, 'now', 'transition time kept while status holds');
});

test('CRI configs from a pod: DNS per dnsPolicy, cgroup per QoS, resources, labels', () => {
  const node = {
    nodeName: 'n1',
    clusterDNS: '10.96.0.10',
    clusterDomain: 'cluster.local',
    logRoot: '/logs',
    hostResolv: { servers: ['1.1.1.1'], searches: [], options: [] },
  };
  assert.deepEqual(dnsConfig(pod, node), {
    servers: ['10.96.0.10'],
    searches: ['ns.svc.cluster.local', 'svc.cluster.local', 'cluster.local'],
    options: ['ndots:5'],
  });
  assert.deepEqual(dnsConfig({ ...pod, spec: { containers: [], dnsPolicy: 'Default' } }, node)!.servers, ['1.1.1.1']);
  assert.deepEqual(
    dnsConfig(
      {
        ...pod,
        spec: {
          containers: [],
          dnsPolicy: 'None',
          dnsConfig: { nameservers: ['9.9.9.9'], options: [{ name: 'ndots', value: '2' }] },
        },
      },
      node,
    ),
    { servers: ['9.9.9.9'], searches: [], options: ['ndots:2'] },
  );
  assert.equal(cgroupParent(pod, node), '/skiff-n1/podu_1', 'limits without requests: Guaranteed');
  assert.equal(
    cgroupParent({ ...pod, spec: { containers: [{ name: 'c', resources: { requests: { cpu: '1' } } }] } }, node),
    '/skiff-n1/burstable/podu_1',
  );
  const sb = sandboxConfig(pod, 0, node);
  assert.equal(sb.log_directory, '/logs/ns_p_u-1');
  assert.equal(sb.labels['io.kubernetes.pod.uid'], 'u-1');
  assert.deepEqual(resources(pod.spec.containers[0]), {
    cpu_shares: 512,
    cpu_period: 100000,
    cpu_quota: 50000,
    memory_limit_in_bytes: 64 * 1024 * 1024,
  });
  const cc = containerConfig(pod, pod.spec.containers[0], 3, [], ['sh'], [], []);
  assert.equal(cc.log_path, 'c/3.log');
  assert.equal(cc.metadata.attempt, 3);
});

test('probe state machine: thresholds in a row flip the status', () => {
  const p = { failureThreshold: 3, successThreshold: 2 };
  let s = initialState('readiness');
  assert.equal(s.status, 'failure', 'not ready until proven');
  s = observe(s, 'success', '', p);
  assert.equal(s.status, 'failure');
  s = observe(s, 'success', '', p);
  assert.equal(s.status, 'success');
  s = observe(s, 'failure', 'x', p);
  s = observe(s, 'failure', 'x', p);
  assert.equal(s.status, 'success');
  s = observe(s, 'success', '', p);
  s = observe(s, 'failure', 'x', p);
  s = observe(s, 'failure', 'x', p);
  assert.equal(s.status, 'success', 'a success resets the count');
  s = observe(s, 'failure', 'boom', p);
  assert.equal(s.status, 'failure');
  assert.equal(s.lastMessage, 'boom');
  assert.equal(initialState('liveness').status, null);
});

test('file volumes', () => {
  const files = volumeFiles(
    {
      name: 'v',
      projected: {
        sources: [{ configMap: { name: 'cm', items: [{ key: 'a', path: 'dir/a.txt' }] } }, { secret: { name: 's' } }],
      },
    },
    { ...sources, field: () => '' },
  )!;
  assert.deepEqual([...files.keys()].sort(), ['dir/a.txt', 'pw']);
  assert.equal(files.get('pw')!.data.toString(), 'pa55');
  assert.throws(
    () => volumeFiles({ name: 'v', configMap: { name: 'missing' } }, { ...sources, field: () => '' }),
    /not found/,
  );
  assert.equal(
    volumeFiles({ name: 'v', configMap: { name: 'missing', optional: true } }, { ...sources, field: () => '' })!.size,
    0,
  );
});

test('CRI log lines: partial lines joined, timestamps on request, since filter', async () => {
  const { formatLines } = await import('../../agent/kubelet/logs.ts');
  const text =
    '2026-01-01T00:00:00.1Z stdout F hello\n2026-01-01T00:00:01.2Z stderr P part-\n2026-01-01T00:00:01.3Z ' +
    'stderr F one\n2026-01-01T00:00:02Z stdout F late\n2026-01-01T00:00:03Z stdout F unfinished-no-newline';
  assert.deepEqual(formatLines(text, {}), {
    lines: ['hello\n', 'part-one\n', 'late\n'],
    rest: '2026-01-01T00:00:03Z stdout F unfinished-no-newline',
  });
  assert.deepEqual(formatLines(text, { timestamps: true }).lines[0], '2026-01-01T00:00:00.1Z hello\n');
  assert.deepEqual(formatLines(text, { since: Date.parse('2026-01-01T00:00:01.5Z') }).lines, ['late\n']);
});

test('log rotation keeps the newest rotated files so that five remain with the live one', () => {
  const sibs = [
    '0.log',
    '0.log.20261122-010000',
    '0.log.20261122-010010',
    '0.log.20261122-010020',
    '0.log.20261122-010030',
    '0.log.20261122-010040',
    '1.log',
    '1.log.20261122-000000',
  ];
  assert.deepEqual(rotatedToDelete('0.log', sibs, 5), ['0.log.20261122-010000']);
  assert.deepEqual(rotatedToDelete('0.log', sibs, 2), [
    '0.log.20261122-010000',
    '0.log.20261122-010010',
    '0.log.20261122-010020',
    '0.log.20261122-010030',
  ]);
  assert.deepEqual(rotatedToDelete('1.log', sibs, 5), []);
  assert.deepEqual(rotatedToDelete('2.log', sibs, 5), []);
});

test('runAsNonRoot: the effective user must be known and not root', () => {
  const pod = (podSc: object, cSc: object) => ({
    metadata: { name: 'p', namespace: 'd', uid: 'u' },
    spec: { securityContext: podSc, containers: [{ name: 'c', securityContext: cSc }] },
  });
  const cases: [object, object, { uid?: number; username?: string }, RegExp | null][] = [
    [{}, {}, {}, null],
    [{ runAsNonRoot: true }, {}, {}, /image will run as root/],
    [{ runAsNonRoot: true }, {}, { uid: 0 }, /image will run as root/],
    [{ runAsNonRoot: true }, {}, { uid: 1000 }, null],
    [{ runAsNonRoot: true }, {}, { username: 'nobody' }, /non-numeric user \(nobody\)/],
    [{ runAsNonRoot: true, runAsUser: 0 }, {}, { uid: 1000 }, /runAsUser breaks non-root policy/],
    [{ runAsNonRoot: true }, { runAsUser: 1000 }, { uid: 0 }, null],
    [
      {},
      { runAsNonRoot: true, runAsUser: 0 },
      {},
      /runAsUser breaks non-root policy \(pod: "p_d\(u\)", container: c\)/,
    ],
    [{ runAsNonRoot: true }, { runAsNonRoot: false }, {}, null],
  ];
  for (const [ps, cs, img, want] of cases) {
    const p = pod(ps, cs);
    const got = nonRootViolation(p, p.spec.containers[0], img);
    if (want) assert.match(got ?? '', want, JSON.stringify([ps, cs, img]));
    else assert.equal(got, null, JSON.stringify([ps, cs, img]));
  }
});

test(
  'kubelet events: repeats coalesce into one event with a count, later repeats patch it; ' + 'fieldPaths as upstream',
  async () => {
    const { EventRecorder, podRef, nodeRef } = await import('../../agent/kubelet/events.ts');
    const calls: [string, string, Record<string, unknown>][] = [];
    // A fake API client: only records the writes (the recorder's logic is what is tested here).
    const api = {
      create: async (path: string, body: Record<string, unknown>) => calls.push(['create', path, body]),
      mergePatch: async (path: string, body: Record<string, unknown>) => calls.push(['patch', path, body]),
    } as unknown as ConstructorParameters<typeof EventRecorder>[0];
    const rec = new EventRecorder(api, 'node1', () => {});
    const p = {
      metadata: { name: 'web', namespace: 'ns', uid: 'u1', resourceVersion: '7' },
      spec: { initContainers: [{ name: 'init' }], containers: [{ name: 'c' }] },
    };
    assert.equal(podRef(p, 'init').fieldPath, 'spec.initContainers{init}');
    assert.equal(podRef(p, 'c').fieldPath, 'spec.containers{c}');
    assert.equal(podRef(p).fieldPath, undefined);
    const settle = () => new Promise((r) => setTimeout(r, 500));
    for (let i = 0; i < 3; i++)
      rec.record(podRef(p, 'c'), 'Warning', 'BackOff', 'Back-off restarting failed container c');
    rec.record(podRef(p, 'init'), 'Warning', 'BackOff', 'Back-off restarting failed container c');
    await settle();
    assert.equal(calls.length, 2, 'one create per distinct event');
    const [kind, path, ev] = calls[0];
    assert.deepEqual([kind, path], ['create', '/api/v1/namespaces/ns/events']);
    assert.equal(ev.count, 3);
    assert.deepEqual(ev.source, { component: 'kubelet', host: 'node1' });
    assert.deepEqual(ev.involvedObject, { ...podRef(p), fieldPath: 'spec.containers{c}' });
    assert.match((ev.metadata as { name: string }).name, /^web\.[0-9a-f]+$/);
    rec.record(podRef(p, 'c'), 'Warning', 'BackOff', 'Back-off restarting failed container c');
    await settle();
    assert.equal(calls.length, 3);
    assert.equal(calls[2][0], 'patch');
    assert.equal(calls[2][1], `/api/v1/namespaces/ns/events/${(ev.metadata as { name: string }).name}`);
    assert.equal(calls[2][2].count, 4);
    rec.record(nodeRef('node1'), 'Normal', 'NodeReady', 'Node node1 status is now: NodeReady');
    await settle();
    assert.equal(calls[3][1], '/api/v1/namespaces/default/events', 'node events live in the default namespace');
  },
);

test('attach to an exited container: its CRI log split back into stdout and stderr', async () => {
  const { criLogStreams } = await import('../../agent/streaming/session.ts');
  const log = [
    '2026-11-30T17:00:00.000000001Z stdout F out',
    '2026-11-30T17:00:00.000000002Z stderr P par',
    '2026-11-30T17:00:00.000000003Z stderr F tial',
    '2026-11-30T17:00:00.000000004Z stdout F',
    '',
  ].join('\n');
  assert.deepEqual(criLogStreams(log), { stdout: 'out\n\n', stderr: 'partial\n' });
});

test('an attach that ended with its container gets the rest of the output from the log, never twice', async () => {
  const { missingTail } = await import('../../agent/streaming/session.ts');
  const cases: [log: string, relayed: string, want: string][] = [
    // The last writes did not come through (seen in CI: `scratch-ok` after `hello-from-cm`).
    ['hello-from-cm\nscratch-ok\n', 'hello-from-cm\n', 'scratch-ok\n'],
    ['hello-from-cm\nscratch-ok\n', 'hello-from-cm\nscratch-ok\n', ''],
    // Attached late: the log has more before what was relayed, which is not sent.
    ['before\nduring\n', 'during\n', ''],
    ['before\nduring\nlast\n', 'during\n', 'last\n'],
    // Repeated text: the last place it is found, so nothing is ever sent twice.
    ['a\nb\na\nc\n', 'a\n', 'c\n'],
    ['a\nb\na\n', 'a\n', ''],
    // Not in the log (rotated away, or the kept end cut mid-character): nothing.
    ['x\n', 'y\n', ''],
    ['x\n', '', ''],
  ];
  for (const [log, relayed, want] of cases)
    assert.equal(missingTail(log, relayed), want, JSON.stringify([log, relayed]));
});

test(
  'ephemeral containers: statuses never ready and no effect on the phase; ' + 'the target process namespace',
  async () => {
    const { securityContext } = await import('../../agent/kubelet/pod-spec.ts');
    const withDbg = { ...pod, spec: { ...pod.spec, ephemeralContainers: [{ name: 'dbg', image: 'b' }] } };
    const st = computeStatus(
      withDbg,
      rt([
        ['c', rc({})],
        ['dbg', rc({ name: 'dbg', id: 'id2', state: 'CONTAINER_EXITED', exitCode: 0, finishedAt: 't1' })],
      ]),
      {},
      'now',
    );
    assert.equal(st.phase, 'Running', 'an ephemeral container that ended does not end the pod');
    assert.equal(st.ephemeralContainerStatuses?.length, 1);
    assert.equal(st.ephemeralContainerStatuses?.[0].ready, false);
    assert.equal(st.ephemeralContainerStatuses?.[0].state?.terminated?.reason, 'Completed');
    assert.equal(computeStatus(pod, rt([['c', rc({})]]), {}, 'now').ephemeralContainerStatuses, undefined);
    const ns = (p: Pod, target?: string) => securityContext(p, { name: 'dbg' }, target).namespace_options;
    assert.deepEqual(ns(pod, 'cid'), { network: 'POD', pid: 'TARGET', ipc: 'POD', target_id: 'cid' });
    assert.equal(ns(pod).pid, 'CONTAINER');
    assert.deepEqual(ns({ ...pod, spec: { ...pod.spec, shareProcessNamespace: true } }, 'cid'), {
      network: 'POD',
      pid: 'POD',
      ipc: 'POD',
    });
  },
);
