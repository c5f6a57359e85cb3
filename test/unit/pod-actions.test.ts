// The kubelet's plan for one pod (agent/kubelet/pod-actions.ts), as a table: a pod, what the
// runtime shows, the back-off so far and the clock in; the sandbox and container actions out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  computePodActions,
  type ObservedContainer,
  type ObservedSandbox,
  type PodActions,
} from '../../agent/kubelet/pod-actions.ts';
import type { BackoffEntry } from '../../agent/kubelet/backoff.ts';
import type { Pod, PodSpec } from '../../controlplane/shared/kube/index.ts';

const NOW = Date.parse('2026-11-30T12:00:00Z');
const iso = (msAgo: number) => new Date(NOW - msAgo).toISOString().replace(/\.\d+Z$/, 'Z');

const podWith = (spec: Partial<PodSpec>, extra: { deleted?: number; phase?: 'Succeeded' | 'Failed' } = {}): Pod => ({
  metadata: {
    name: 'p',
    namespace: 'ns',
    uid: 'u1',
    ...(extra.deleted !== undefined ? { deletionTimestamp: iso(0), deletionGracePeriodSeconds: extra.deleted } : {}),
  },
  spec: { containers: [{ name: 'app', image: 'img:1' }], ...spec },
  ...(extra.phase ? { status: { phase: extra.phase } } : {}),
});
const withInit = (restartPolicy: PodSpec['restartPolicy']) =>
  podWith({
    restartPolicy,
    initContainers: [
      { name: 'i1', image: 'img:1' },
      { name: 'i2', image: 'img:1' },
    ],
  });

const ready: ObservedSandbox = { id: 'sb0', state: 'SANDBOX_READY', attempt: 0 };
const dead: ObservedSandbox = { id: 'sb0', state: 'SANDBOX_NOTREADY', attempt: 0 };
const running = (name: string, attempt = 0, extra: Partial<ObservedContainer> = {}): ObservedContainer => ({
  id: `${name}-${attempt}`,
  name,
  attempt,
  sandboxId: 'sb0',
  state: 'CONTAINER_RUNNING',
  specImage: 'img:1',
  ...extra,
});
/** Exited code after running ranMs, ended endedAgo ms before NOW. */
const exited = (name: string, code: number, attempt = 0, endedAgo = 1000, ranMs = 5000): ObservedContainer =>
  running(name, attempt, {
    state: 'CONTAINER_EXITED',
    exitCode: code,
    startedAt: iso(endedAgo + ranMs),
    finishedAt: iso(endedAgo),
  });
/** A back-off entry whose last delay was delayMs, for an exit other than the one observed. */
const backedOff = (delayMs: number): BackoffEntry => ({ delayMs, until: NOW - 60_000, exitAt: NOW - 70_000 });

/** The plan in short: containers as name#attempt, starts with their reason. */
function summary(p: PodActions) {
  return {
    killSandboxes: p.killSandboxes,
    createSandbox: p.createSandbox?.attempt ?? null,
    sandboxId: p.sandboxId,
    kill: p.kill.map((k) => `${k.id}:${k.graceSeconds}s`),
    remove: p.remove,
    startCreated: p.startCreated,
    start: p.start.map(
      (s) => `${s.kind}:${s.container.name}#${s.attempt}:${s.reason}${s.targetId ? `@${s.targetId}` : ''}`,
    ),
    backingOff: p.backingOff.map((b) => b.message),
    probe: p.probe.map((x) => x.id),
    terminate: p.terminate?.graceSeconds ?? null,
  };
}
const NOTHING = summary(
  computePodActions(podWith({}, { phase: 'Succeeded' }), { sandboxes: [], containers: [] }, new Map(), NOW),
);

interface Row {
  name: string;
  pod: Pod;
  sandboxes: ObservedSandbox[];
  containers?: ObservedContainer[];
  backoff?: [string, BackoffEntry][];
  probeKilled?: string[];
  want: Partial<ReturnType<typeof summary>>;
}

const twoApps = podWith({
  containers: [
    { name: 'a', image: 'img:1' },
    { name: 'b', image: 'img:1' },
  ],
});
const backoffMessage = (s: number, c = 'app') => `back-off ${s}s restarting failed container=${c} pod=p_ns(u1)`;

const table: Row[] = [
  {
    name: 'a new pod: a sandbox, then every container',
    pod: twoApps,
    sandboxes: [],
    want: { createSandbox: 0, start: ['main:a#0:new', 'main:b#0:new'] },
  },
  {
    name: 'a new pod with init containers: a sandbox, then the first init container alone',
    pod: withInit('Always'),
    sandboxes: [],
    want: { createSandbox: 0, start: ['init:i1#0:new'] },
  },
  {
    name: 'the sandbox died: it goes, a new attempt comes, the containers start over',
    pod: podWith({}),
    sandboxes: [dead],
    containers: [running('app', 3)],
    want: { killSandboxes: ['sb0'], createSandbox: 1, start: ['main:app#0:new'] },
  },
  {
    name: 'all running: nothing to do but probe',
    pod: twoApps,
    sandboxes: [ready],
    containers: [running('a'), running('b')],
    want: { sandboxId: 'sb0', probe: ['a-0', 'b-0'] },
  },
  {
    name: 'a container killed for its probe is not probed again while it still shows running',
    pod: twoApps,
    sandboxes: [ready],
    containers: [running('a'), running('b')],
    probeKilled: ['a-0'],
    want: { sandboxId: 'sb0', probe: ['b-0'] },
  },
  {
    name: 'a container made but not started is started',
    pod: podWith({}),
    sandboxes: [ready],
    containers: [running('app', 0, { state: 'CONTAINER_CREATED' })],
    want: { sandboxId: 'sb0', startCreated: ['app-0'] },
  },
  {
    name: 'init containers run in order: the second after the first succeeded',
    pod: withInit('Always'),
    sandboxes: [ready],
    containers: [exited('i1', 0)],
    want: { sandboxId: 'sb0', start: ['init:i2#0:new'] },
  },
  {
    name: 'a running init container holds everything back',
    pod: withInit('Always'),
    sandboxes: [ready],
    containers: [running('i1')],
    want: { sandboxId: 'sb0' },
  },
  {
    name: 'init containers done: the main containers start',
    pod: withInit('Always'),
    sandboxes: [ready],
    containers: [exited('i1', 0), exited('i2', 0)],
    want: { sandboxId: 'sb0', start: ['main:app#0:new'] },
  },
  {
    name: 'init container failed, restartPolicy Never: the pod goes no further',
    pod: withInit('Never'),
    sandboxes: [ready],
    containers: [exited('i1', 1)],
    want: { sandboxId: 'sb0' },
  },
  {
    name: 'init container failed, restartPolicy OnFailure: restarted (first restart at once)',
    pod: withInit('OnFailure'),
    sandboxes: [ready],
    containers: [exited('i1', 1)],
    want: { sandboxId: 'sb0', start: ['init:i1#1:restart'] },
  },
  {
    name: 'init container failed, restartPolicy Always: restarted, the main containers wait',
    pod: withInit('Always'),
    sandboxes: [ready],
    containers: [exited('i1', 0), exited('i2', 2, 4)],
    want: { sandboxId: 'sb0', start: ['init:i2#5:restart'] },
  },
  ...(
    [
      ['Always', 0, true],
      ['Always', 1, true],
      ['OnFailure', 0, false],
      ['OnFailure', 1, true],
      ['Never', 0, false],
      ['Never', 1, false],
    ] as const
  ).map(
    ([policy, code, restarts]): Row => ({
      name: `a container that exited ${code} under restartPolicy ${policy} is ${restarts ? '' : 'not '}restarted`,
      pod: podWith({ restartPolicy: policy }),
      sandboxes: [ready],
      containers: [exited('app', code, 2)],
      want: { sandboxId: 'sb0', start: restarts ? ['main:app#3:restart'] : [] },
    }),
  ),
  {
    name: 'back-off not yet over: no start, CrashLoopBackOff with the delay',
    pod: podWith({}),
    sandboxes: [ready],
    containers: [exited('app', 1, 2, 1000)],
    backoff: [['app', backedOff(10_000)]],
    want: { sandboxId: 'sb0', backingOff: [backoffMessage(20)] },
  },
  {
    name: 'back-off over: restarted',
    pod: podWith({}),
    sandboxes: [ready],
    containers: [exited('app', 1, 2, 25_000)],
    backoff: [['app', backedOff(10_000)]],
    want: { sandboxId: 'sb0', start: ['main:app#3:restart'] },
  },
  {
    name: 'a run of 10 minutes resets the back-off: restarted at once',
    pod: podWith({}),
    sandboxes: [ready],
    containers: [exited('app', 1, 2, 1000, 11 * 60_000)],
    backoff: [['app', backedOff(300_000)]],
    want: { sandboxId: 'sb0', start: ['main:app#3:restart'] },
  },
  {
    name: 'the image changed: the running container is killed and started anew',
    pod: podWith({ containers: [{ name: 'app', image: 'img:2' }], terminationGracePeriodSeconds: 7 }),
    sandboxes: [ready],
    containers: [running('app', 1)],
    want: { sandboxId: 'sb0', kill: ['app-1:7s'], start: ['main:app#2:changed'] },
  },
  {
    name: 'a container made before the image was recorded is left alone',
    pod: podWith({ containers: [{ name: 'app', image: 'img:2' }] }),
    sandboxes: [ready],
    containers: [running('app', 1, { specImage: undefined })],
    want: { sandboxId: 'sb0', probe: ['app-1'] },
  },
  {
    name: 'old instances go; the latest and the one before it stay',
    pod: podWith({}),
    sandboxes: [ready],
    containers: [exited('app', 1, 0), exited('app', 1, 1), running('app', 2), exited('app', 1, 3, 500_000)],
    backoff: [['app', backedOff(10_000)]],
    want: { sandboxId: 'sb0', remove: ['app-1', 'app-0'], start: ['main:app#4:restart'] },
  },
  {
    name: 'the pod was deleted: every running container and every sandbox is killed within its grace',
    pod: podWith({}, { deleted: 12 }),
    sandboxes: [ready, { id: 'sbx', state: 'SANDBOX_NOTREADY', attempt: 0 }],
    containers: [running('app', 1), exited('app', 1, 0)],
    want: { killSandboxes: ['sb0', 'sbx'], kill: ['app-1:12s'], terminate: 12 },
  },
  {
    name: 'a finished pod with no sandbox gets none',
    pod: podWith({}, { phase: 'Failed' }),
    sandboxes: [dead],
    want: {},
  },
  {
    name: 'a finished pod starts nothing in its sandbox',
    pod: podWith({ restartPolicy: 'Never' }, { phase: 'Succeeded' }),
    sandboxes: [ready],
    containers: [exited('app', 0)],
    want: { sandboxId: 'sb0' },
  },
  {
    name: "an ephemeral container starts once, in its running target's process namespace",
    pod: podWith({ ephemeralContainers: [{ name: 'dbg', image: 'busybox', targetContainerName: 'app' }] }),
    sandboxes: [ready],
    containers: [running('app')],
    want: { sandboxId: 'sb0', probe: ['app-0'], start: ['ephemeral:dbg#0:new@app-0'] },
  },
  {
    name: 'an ephemeral container that ran is never started again',
    pod: podWith({ ephemeralContainers: [{ name: 'dbg', image: 'busybox' }] }),
    sandboxes: [ready],
    containers: [running('app'), exited('dbg', 0)],
    want: { sandboxId: 'sb0', probe: ['app-0'] },
  },
];

for (const row of table)
  test(`pod actions: ${row.name}`, () => {
    const plan = computePodActions(
      row.pod,
      { sandboxes: row.sandboxes, containers: row.containers ?? [], probeKilled: new Set(row.probeKilled) },
      new Map(row.backoff),
      NOW,
    );
    assert.deepEqual(summary(plan), { ...NOTHING, ...row.want });
  });

test('pod actions: an exit seen for the first time records its back-off; the same exit again changes nothing', () => {
  const pod = podWith({});
  const obs = { sandboxes: [ready], containers: [exited('app', 1, 2, 1000)] };
  const first = computePodActions(pod, obs, new Map([['app', backedOff(10_000)]]), NOW);
  const entry = first.backoff.get('app');
  assert.deepEqual(entry, { delayMs: 20_000, until: NOW - 1000 + 20_000, exitAt: NOW - 1000 });
  const again = computePodActions(pod, obs, new Map([['app', entry!]]), NOW + 5000);
  assert.equal(again.backoff.size, 0);
  assert.deepEqual(summary(again).backingOff, [backoffMessage(20)]);
  assert.deepEqual(summary(computePodActions(pod, obs, new Map([['app', entry!]]), NOW + 20_000)).start, [
    'main:app#3:restart',
  ]);
});
