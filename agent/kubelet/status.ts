// Pod status from what the runtime reports: phase, conditions, container statuses with the
// reasons users see (ContainerCreating, CrashLoopBackOff, ErrImagePull, Completed, Error,
// OOMKilled). Pure.
import type {
  Condition,
  Container,
  ContainerState,
  ContainerStatus,
  Pod,
  PodPhase,
  PodStatus,
} from '../../controlplane/shared/kube/index.ts';

export interface RuntimeContainer {
  name: string;
  id: string;
  attempt: number;
  state: 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  reason?: string;
  message?: string;
  image: string;
  imageRef: string;
}

export interface PodRuntime {
  sandboxReady: boolean;
  podIP?: string;
  hostIP: string;
  startTime?: string;
  /** Latest and previous instance of each container by name. */
  containers: Map<string, { latest: RuntimeContainer; previous?: RuntimeContainer }>;
  /** Why a container is not running yet (image pull errors, back-off, env errors). */
  waiting: Map<string, { reason: string; message: string }>;
  /** Probe verdicts for running containers (absent = no probe = ready/started). */
  ready?: Map<string, boolean>;
  started?: Map<string, boolean>;
}

function terminated(c: RuntimeContainer): ContainerState {
  const reason = c.reason === 'OOMKilled' ? 'OOMKilled' : c.exitCode === 0 ? 'Completed' : 'Error';
  return {
    terminated: {
      exitCode: c.exitCode ?? 0,
      reason,
      ...(c.message ? { message: c.message } : {}),
      startedAt: c.startedAt ?? null,
      finishedAt: c.finishedAt ?? null,
      containerID: `containerd://${c.id}`,
    },
  };
}

/** What computeStatus always fills in. */
export type ComputedStatus = PodStatus & {
  phase: PodPhase;
  conditions: Condition[];
  containerStatuses: (ContainerStatus & { state: ContainerState })[];
};

function containerStatus(
  spec: Container,
  rt: PodRuntime,
  isInit: boolean,
): ContainerStatus & { state: ContainerState } {
  const entry = rt.containers.get(spec.name);
  const wait = rt.waiting.get(spec.name);
  const latest = entry?.latest;
  let state: ContainerState;
  if (wait) state = { waiting: wait };
  else if (!latest) state = { waiting: { reason: rt.sandboxReady ? 'ContainerCreating' : 'PodInitializing' } };
  else if (latest.state === 'CONTAINER_RUNNING') state = { running: { startedAt: latest.startedAt } };
  else if (latest.state === 'CONTAINER_EXITED') state = terminated(latest);
  else state = { waiting: { reason: 'ContainerCreating' } };
  const lastState = entry?.previous && entry.previous.state === 'CONTAINER_EXITED' ? terminated(entry.previous) : {};
  const running = !!state.running;
  return {
    name: spec.name,
    state,
    lastState,
    ready: isInit
      ? latest?.state === 'CONTAINER_EXITED' && latest.exitCode === 0
      : running && (rt.ready?.get(spec.name) ?? true),
    restartCount: latest?.attempt ?? 0,
    image: spec.image ?? '',
    imageID: latest?.imageRef ?? '',
    ...(latest ? { containerID: `containerd://${latest.id}` } : {}),
    started: running && (rt.started?.get(spec.name) ?? true),
  };
}

export function computeStatus(pod: Pod, rt: PodRuntime, old: PodStatus, now: string): ComputedStatus {
  const spec = pod.spec;
  const init = (spec.initContainers ?? []).map((c) => containerStatus(c, rt, true));
  const app = (spec.containers ?? []).map((c) => containerStatus(c, rt, false));
  const initDone = init.every((s) => s.state?.terminated?.exitCode === 0);
  const policy = spec.restartPolicy ?? 'Always';
  let phase: PodPhase = 'Pending';
  // Phase follows what ran, not the waiting reasons shown on top of it.
  const latest = (spec.containers ?? []).map((c) => rt.containers.get(c.name)?.latest);
  const initFailed =
    policy === 'Never' &&
    (spec.initContainers ?? []).some((c) => {
      const l = rt.containers.get(c.name)?.latest;
      return l?.state === 'CONTAINER_EXITED' && l.exitCode !== 0;
    });
  if (initFailed) phase = 'Failed';
  else if (
    initDone &&
    latest.length &&
    latest.every((l: RuntimeContainer | undefined) => l?.state === 'CONTAINER_EXITED')
  ) {
    const allOk = latest.every((l: RuntimeContainer | undefined) => l!.exitCode === 0);
    if (policy === 'Never') phase = allOk ? 'Succeeded' : 'Failed';
    else if (policy === 'OnFailure' && allOk) phase = 'Succeeded';
    else phase = 'Running';
  } else if (initDone && latest.some(Boolean)) phase = 'Running';
  if (old.phase === 'Succeeded' || old.phase === 'Failed') phase = old.phase;
  const allReady = app.length > 0 && app.every((s) => s.ready);
  const cond = (type: string, ok: boolean, reason?: string): Condition => {
    const prev = (old.conditions ?? []).find((c) => c.type === type);
    const status = ok ? 'True' : 'False';
    return {
      type,
      status,
      lastProbeTime: null,
      lastTransitionTime: prev && prev.status === status ? prev.lastTransitionTime : now,
      ...(reason && !ok ? { reason } : {}),
    };
  };
  const conditions = [
    cond('PodReadyToStartContainers', rt.sandboxReady),
    cond('Initialized', initDone, 'ContainersNotInitialized'),
    cond('Ready', allReady && phase === 'Running', 'ContainersNotReady'),
    cond('ContainersReady', allReady, 'ContainersNotReady'),
    cond('PodScheduled', true),
  ];
  return {
    ...old,
    phase,
    conditions,
    hostIP: rt.hostIP,
    hostIPs: [{ ip: rt.hostIP }],
    ...(rt.podIP ? { podIP: rt.podIP, podIPs: [{ ip: rt.podIP }] } : {}),
    startTime: old.startTime ?? rt.startTime ?? now,
    ...(init.length ? { initContainerStatuses: init } : {}),
    containerStatuses: app,
    // Ephemeral containers are never ready and never restarted; they do not change the phase.
    ...(spec.ephemeralContainers?.length
      ? {
          ephemeralContainerStatuses: spec.ephemeralContainers.map((c) => ({
            ...containerStatus(c, rt, false),
            ready: false,
          })),
        }
      : {}),
  };
}
