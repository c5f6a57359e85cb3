// What the kubelet does next for one pod (upstream's kubelet calls it computePodActions): the
// sandbox to remove or (re)create, the containers to start, kill or restart, and why. Decided
// from the pod's spec, what the runtime shows and the crash-loop back-off; pure, so each case is
// a row in a table test. kubelet.ts carries the plan out over CRI.
import type { Container, EphemeralContainer, Pod } from '../../controlplane/shared/kube/index.ts';
import { type BackoffEntry, nextBackoff } from './backoff.ts';
import type { RuntimeContainer } from './status.ts';

export interface ObservedSandbox {
  id: string;
  state: string;
  attempt: number;
}

/** A container as the relist shows it, with the ContainerStatus details of an exited one. */
export interface ObservedContainer {
  id: string;
  name: string;
  attempt: number;
  sandboxId: string;
  state: RuntimeContainer['state'];
  /** The spec's image when it was made (absent on containers made before Skiff recorded it). */
  specImage?: string;
  exitCode?: number;
  startedAt?: string;
  finishedAt?: string;
}

export interface PodObservation {
  sandboxes: ObservedSandbox[];
  containers: ObservedContainer[];
  /** Containers killed for a failed probe that the relist still shows running: not probed again. */
  probeKilled?: ReadonlySet<string>;
}

export interface StartContainer {
  container: Container | EphemeralContainer;
  kind: 'init' | 'main' | 'ephemeral';
  attempt: number;
  /** Why: first start, a restart by the restart policy, or a changed spec. */
  reason: 'new' | 'restart' | 'changed';
  /** An ephemeral container's running target, whose process namespace it joins. */
  targetId?: string;
}

export interface KillContainer {
  id: string;
  name: string;
  /** The Killing event's message. */
  message: string;
  /** Seconds between TERM and KILL. */
  graceSeconds: number;
}

export interface BackingOff {
  name: string;
  /** The attempt of the exited instance (one BackOff event per exit). */
  attempt: number;
  message: string;
}

export interface PodActions {
  /** Sandboxes to stop and remove: the dead ones before a new one, all of them for a deleted pod. */
  killSandboxes: string[];
  createSandbox: { attempt: number } | null;
  /** The ready sandbox the containers run in; null when createSandbox makes it, or there is none. */
  sandboxId: string | null;
  /** Running containers to stop first (a deleted pod's, or one whose spec changed). */
  kill: KillContainer[];
  /** Old instances beyond the latest and the one before it (whose status is lastState). */
  remove: string[];
  /** Containers made but not started (a sync ended between the two). */
  startCreated: string[];
  /** Containers to make and start, in order. */
  start: StartContainer[];
  /** Exited containers the policy restarts, waiting out their back-off. */
  backingOff: BackingOff[];
  /** Back-off entries for exits seen for the first time, by container name. */
  backoff: Map<string, BackoffEntry>;
  /** Running containers to probe. */
  probe: { name: string; id: string }[];
  /** A deleted pod: everything stops within this grace period (seconds). */
  terminate: { graceSeconds: number } | null;
}

const emptyPlan = (): PodActions => ({
  killSandboxes: [],
  createSandbox: null,
  sandboxId: null,
  kill: [],
  remove: [],
  startCreated: [],
  start: [],
  backingOff: [],
  backoff: new Map(),
  probe: [],
  terminate: null,
});

/** The grace period of a deleted pod: the delete's, else the spec's, else 30 s. */
function graceSeconds(pod: Pod): number {
  return Math.max(0, Number(pod.metadata.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30));
}

/**
 * The plan for one pod. backoff holds the pod's containers' entries by name; now is the clock
 * (ms). Init containers run one at a time, in order, each to success; the main containers start
 * once they are done; ephemeral containers start once and are never restarted.
 */
export function computePodActions(
  pod: Pod,
  observed: PodObservation,
  backoff: ReadonlyMap<string, BackoffEntry>,
  now: number,
): PodActions {
  const plan = emptyPlan();
  const spec = pod.spec ?? { containers: [] };
  if (pod.metadata.deletionTimestamp) {
    const grace = graceSeconds(pod);
    plan.terminate = { graceSeconds: grace };
    for (const c of observed.containers)
      if (c.state === 'CONTAINER_RUNNING')
        plan.kill.push({ id: c.id, name: c.name, message: `Stopping container ${c.name}`, graceSeconds: grace });
    plan.killSandboxes = observed.sandboxes.map((s) => s.id);
    return plan;
  }
  // A finished pod keeps what it has: no new sandbox, no new containers.
  const terminal = pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
  const ready = observed.sandboxes.find((s) => s.state === 'SANDBOX_READY');
  let containers: ObservedContainer[] = [];
  if (ready) {
    plan.sandboxId = ready.id;
    containers = observed.containers.filter((c) => c.sandboxId === ready.id);
  } else {
    if (terminal) return plan;
    // No ready sandbox (none yet, or it died): the old ones go, their containers with them.
    plan.killSandboxes = observed.sandboxes.map((s) => s.id);
    plan.createSandbox = { attempt: Math.max(0, ...observed.sandboxes.map((s) => s.attempt + 1)) };
  }
  const instances = (name: string) => containers.filter((c) => c.name === name).sort((a, b) => b.attempt - a.attempt);
  const policy = spec.restartPolicy ?? 'Always';
  const restart = (c: Container, kind: StartContainer['kind'], last: ObservedContainer) => {
    const exitAt = last.finishedAt ? Date.parse(last.finishedAt) : now;
    const ran = last.startedAt && last.finishedAt ? exitAt - Date.parse(last.startedAt) : 0;
    const prev = backoff.get(c.name);
    const entry = nextBackoff(prev, exitAt, ran);
    if (entry !== prev) plan.backoff.set(c.name, entry);
    if (entry.until <= now) {
      plan.start.push({ container: c, kind, attempt: last.attempt + 1, reason: 'restart' });
      return;
    }
    const m = pod.metadata;
    plan.backingOff.push({
      name: c.name,
      attempt: last.attempt,
      message:
        `back-off ${Math.ceil((entry.until - exitAt) / 1000)}s restarting failed container=${c.name} ` +
        `pod=${m.name}_${m.namespace}(${m.uid})`,
    });
  };

  let initDone = true;
  for (const c of spec.initContainers ?? []) {
    const [latest] = instances(c.name);
    if (!latest) {
      if (!terminal) plan.start.push({ container: c, kind: 'init', attempt: 0, reason: 'new' });
      initDone = false;
      break;
    }
    if (latest.state !== 'CONTAINER_EXITED') {
      if (latest.state === 'CONTAINER_CREATED') plan.startCreated.push(latest.id);
      initDone = false;
      break;
    }
    if (latest.exitCode === 0) continue;
    // A failed init container: the pod goes no further; restarted unless the policy is Never.
    initDone = false;
    if (policy !== 'Never' && !terminal) restart(c, 'init', latest);
    break;
  }
  if (!initDone || terminal) return plan;

  for (const c of spec.containers ?? []) {
    const [latest, , ...older] = instances(c.name);
    plan.remove.push(...older.map((o) => o.id));
    if (!latest) {
      plan.start.push({ container: c, kind: 'main', attempt: 0, reason: 'new' });
      continue;
    }
    const live = latest.state === 'CONTAINER_RUNNING' || latest.state === 'CONTAINER_CREATED';
    // The image is the one field of a running pod's container that can change: kill and start anew.
    if (live && latest.specImage !== undefined && latest.specImage !== (c.image ?? '')) {
      if (latest.state === 'CONTAINER_RUNNING')
        plan.kill.push({
          id: latest.id,
          name: c.name,
          message: `Container ${c.name} definition changed, will be restarted`,
          graceSeconds: Math.max(0, Number(spec.terminationGracePeriodSeconds ?? 30)),
        });
      plan.start.push({ container: c, kind: 'main', attempt: latest.attempt + 1, reason: 'changed' });
      continue;
    }
    if (latest.state === 'CONTAINER_CREATED') plan.startCreated.push(latest.id);
    else if (latest.state === 'CONTAINER_RUNNING') {
      if (!observed.probeKilled?.has(latest.id)) plan.probe.push({ name: c.name, id: latest.id });
    } else if (latest.state === 'CONTAINER_EXITED') {
      if (policy === 'Always' || (policy === 'OnFailure' && latest.exitCode !== 0)) restart(c, 'main', latest);
    }
  }
  for (const ec of spec.ephemeralContainers ?? []) {
    if (instances(ec.name).length) continue;
    const [target] = ec.targetContainerName ? instances(ec.targetContainerName) : [];
    plan.start.push({
      container: ec,
      kind: 'ephemeral',
      attempt: 0,
      reason: 'new',
      ...(target?.state === 'CONTAINER_RUNNING' ? { targetId: target.id } : {}),
    });
  }
  return plan;
}
