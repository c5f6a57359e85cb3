// The Deployment algorithm, pure: the ReplicaSet for the current template (named by the
// template's hash), rolling update within maxSurge/maxUnavailable or Recreate, revisions for
// `kubectl rollout history/undo`, history cleanup, and the status kubectl reads.
import { kubeTime } from '../api/time.ts';
import { createHash } from 'node:crypto';
import { controllerOf, ownerRef } from './ownership.ts';
import type { Obj } from '../shared/kube/object.ts';

export const HASH_LABEL = 'pod-template-hash';
export const REVISION = 'deployment.kubernetes.io/revision';
const SKIP_ANNOTATIONS = new Set([
  REVISION,
  'kubectl.kubernetes.io/last-applied-configuration',
  'deployment.kubernetes.io/desired-replicas',
  'deployment.kubernetes.io/max-replicas',
  'deployment.kubernetes.io/revision-history',
]);

// Sorted keys, nulls dropped (kubectl's rollout undo sends creationTimestamp: null).
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .filter((k) => (v as Obj)[k] !== null)
        .map((k) => [k, canonical((v as Obj)[k])]),
    );
  return v;
}

/** The template's hash in Kubernetes' "safe" alphabet (no vowels, no look-alikes). */
export function templateHash(template: Obj, collisionCount = 0): string {
  const t = structuredClone(template ?? {});
  if (t.metadata?.labels) delete t.metadata.labels[HASH_LABEL];
  const digest = createHash('sha256')
    .update(JSON.stringify(canonical(t)) + (collisionCount ? `/${collisionCount}` : ''))
    .digest();
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  return Array.from(digest.subarray(0, 10), (b) => alphabet[b % alphabet.length]).join('');
}

/** An int-or-percent against a total: surge rounds up, unavailable rounds down. */
export function resolveIntOrPercent(
  v: number | string | undefined,
  total: number,
  roundUp: boolean,
  dflt: string,
): number {
  const x = v ?? dflt;
  if (typeof x === 'number') return x;
  const m = String(x).match(/^(\d+)%$/);
  if (!m) return Number(x) || 0;
  const f = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(f) : Math.floor(f);
}

export function surgeAndUnavailable(d: Obj): { maxSurge: number; maxUnavailable: number } {
  const desired = d.spec?.replicas ?? 1;
  if (d.spec?.strategy?.type === 'Recreate') return { maxSurge: 0, maxUnavailable: desired };
  const ru = d.spec?.strategy?.rollingUpdate ?? {};
  const maxSurge = resolveIntOrPercent(ru.maxSurge, desired, true, '25%');
  let maxUnavailable = resolveIntOrPercent(ru.maxUnavailable, desired, false, '25%');
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  return { maxSurge, maxUnavailable: Math.min(maxUnavailable, desired) };
}

const rev = (rs: Obj) => Number(rs.metadata?.annotations?.[REVISION] ?? 0);
const spec = (rs: Obj) => rs.spec?.replicas ?? 0;
const avail = (rs: Obj) => rs.status?.availableReplicas ?? 0;
const byAge = (a: Obj, b: Obj) =>
  Date.parse(a.metadata.creationTimestamp ?? 0) - Date.parse(b.metadata.creationTimestamp ?? 0) ||
  a.metadata.name.localeCompare(b.metadata.name);

export interface DeploymentPlan {
  /** A ReplicaSet to create (then nothing else this round). */
  create?: Obj;
  /** Replica counts (and annotations) to set on existing ReplicaSets. */
  scale: { name: string; replicas: number; annotations?: Record<string, string> }[];
  remove: string[];
  status: Obj;
  /** The revision to record on the Deployment. */
  revision?: string;
}

function copyAnnotations(d: Obj): Record<string, string> {
  return Object.fromEntries(
    Object.entries(d.metadata.annotations ?? {}).filter(([k]) => !SKIP_ANNOTATIONS.has(k)),
  ) as Record<string, string>;
}

export function newReplicaSet(d: Obj, hash: string, revision: number, replicas: number): Obj {
  const labels = { ...(d.spec.template?.metadata?.labels ?? {}), [HASH_LABEL]: hash };
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: `${d.metadata.name}-${hash}`,
      namespace: d.metadata.namespace,
      labels,
      annotations: { ...copyAnnotations(d), [REVISION]: String(revision) },
      ownerReferences: [ownerRef(d)],
    },
    spec: {
      replicas,
      minReadySeconds: d.spec.minReadySeconds ?? 0,
      selector: {
        ...(d.spec.selector ?? {}),
        matchLabels: { ...(d.spec.selector?.matchLabels ?? {}), [HASH_LABEL]: hash },
      },
      template: { ...d.spec.template, metadata: { ...(d.spec.template?.metadata ?? {}), labels } },
    },
  };
}

function condition(
  type: string,
  status: string,
  reason: string,
  message: string,
  now: string,
  prev?: Obj,
  progress = true,
): Obj {
  const same = prev && prev.status === status;
  return {
    type,
    status,
    lastUpdateTime: same && !progress ? prev.lastUpdateTime : now,
    lastTransitionTime: same ? prev.lastTransitionTime : now,
    reason,
    message,
  };
}

export function planDeployment(d: Obj, all: Obj[], nowMs: number): DeploymentPlan {
  const now = kubeTime(nowMs);
  const owned = all.filter((rs) => controllerOf(rs)?.uid === d.metadata.uid);
  const desired = d.spec?.replicas ?? 1;
  const hash = templateHash(d.spec?.template ?? {}, d.status?.collisionCount ?? 0);
  const newRS = owned.find(
    (rs) =>
      rs.metadata.labels?.[HASH_LABEL] === hash &&
      templateHash(rs.spec?.template ?? {}) === templateHash(d.spec?.template ?? {}),
  );
  const old = owned.filter((rs) => rs !== newRS).sort(byAge);
  const maxRev = Math.max(0, ...owned.map(rev));
  const { maxSurge, maxUnavailable } = surgeAndUnavailable(d);
  const plan: DeploymentPlan = { scale: [], remove: [], status: {} };
  const paused = !!d.spec?.paused;
  const deleting = !!d.metadata.deletionTimestamp;

  if (!newRS && !paused && !deleting) {
    // A new template: a new ReplicaSet, sized to what the strategy allows right away.
    const current = owned.reduce((s, rs) => s + spec(rs), 0);
    let start = 0;
    if (d.spec?.strategy?.type !== 'Recreate') start = Math.max(0, Math.min(desired, desired + maxSurge - current));
    else if (!old.some((rs) => spec(rs) > 0 || (rs.status?.replicas ?? 0) > 0)) start = desired;
    plan.create = newReplicaSet(d, hash, maxRev + 1, start);
    plan.revision = String(maxRev + 1);
  } else if (newRS && !deleting) {
    const annotations = { ...copyAnnotations(d) };
    let needAnn = Object.entries(annotations).some(([k, v]) => newRS.metadata.annotations?.[k] !== v);
    if (rev(newRS) < maxRev) {
      annotations[REVISION] = String(maxRev + 1);
      needAnn = true;
    }
    plan.revision = String(needAnn && annotations[REVISION] ? annotations[REVISION] : rev(newRS));
    const counts = new Map(owned.map((rs) => [rs.metadata.name, spec(rs)]));
    if (paused) {
      // Only scaling while paused: the newest ReplicaSet absorbs a change of spec.replicas.
      const total = owned.reduce((s, rs) => s + spec(rs), 0);
      if (total !== desired) counts.set(newRS.metadata.name, Math.max(0, spec(newRS) + desired - total));
    } else if (d.spec?.strategy?.type === 'Recreate') {
      const oldRunning = old.some((rs) => spec(rs) > 0 || (rs.status?.replicas ?? 0) > 0);
      for (const rs of old) counts.set(rs.metadata.name, 0);
      if (!oldRunning) counts.set(newRS.metadata.name, desired);
    } else {
      // Scale the new ReplicaSet up within maxSurge...
      const total = owned.reduce((s, rs) => s + spec(rs), 0);
      let newCount = spec(newRS);
      if (newCount > desired) newCount = desired;
      else if (total < desired + maxSurge) newCount += Math.min(desired + maxSurge - total, desired - newCount);
      counts.set(newRS.metadata.name, newCount);
      // ...and old ones down while minAvailable pods stay available: unhealthy replicas first.
      const allPods = owned.reduce((s, rs) => s + (counts.get(rs.metadata.name) ?? 0), 0);
      const minAvailable = desired - maxUnavailable;
      const newUnavailable = Math.max(0, newCount - avail(newRS));
      let budget = allPods - minAvailable - newUnavailable;
      for (const rs of old) {
        if (budget <= 0) break;
        const unhealthy = Math.max(0, spec(rs) - avail(rs));
        const n = Math.min(budget, unhealthy);
        if (n > 0) {
          counts.set(rs.metadata.name, spec(rs) - n);
          budget -= n;
        }
      }
      const available = owned.reduce((s, rs) => s + avail(rs), 0);
      let canDrop = Math.min(budget, available - minAvailable);
      for (const rs of old) {
        if (canDrop <= 0) break;
        const cur = counts.get(rs.metadata.name) ?? 0;
        const n = Math.min(cur, canDrop);
        if (n > 0) {
          counts.set(rs.metadata.name, cur - n);
          canDrop -= n;
        }
      }
    }
    for (const rs of owned) {
      const want = counts.get(rs.metadata.name) ?? spec(rs);
      const ann = rs === newRS && needAnn ? annotations : undefined;
      if (want !== spec(rs) || ann)
        plan.scale.push({ name: rs.metadata.name, replicas: want, ...(ann ? { annotations: ann } : {}) });
    }
    // History: old, empty ReplicaSets beyond revisionHistoryLimit go, oldest first.
    const limit = d.spec?.revisionHistoryLimit ?? 10;
    const empty = old
      .filter((rs) => spec(rs) === 0 && (rs.status?.replicas ?? 0) === 0 && (counts.get(rs.metadata.name) ?? 0) === 0)
      .sort((a, b) => rev(a) - rev(b));
    plan.remove = empty.slice(0, Math.max(0, empty.length - limit)).map((rs) => rs.metadata.name);
  }

  // Status from what the ReplicaSets report.
  const sum = (f: (rs: Obj) => number) => owned.reduce((s, rs) => s + f(rs), 0);
  const replicas = sum((rs) => rs.status?.replicas ?? 0);
  const updated = newRS?.status?.replicas ?? 0;
  const available = sum(avail);
  const ready = sum((rs) => rs.status?.readyReplicas ?? 0);
  const totalSpec = sum(spec);
  const conds: Obj[] = d.status?.conditions ?? [];
  const prevAvail = conds.find((c) => c.type === 'Available'),
    prevProg = conds.find((c) => c.type === 'Progressing');
  const status: Obj = {
    observedGeneration: d.metadata.generation ?? 1,
    replicas,
    updatedReplicas: updated,
    readyReplicas: ready,
    availableReplicas: available,
    unavailableReplicas: Math.max(0, totalSpec - available),
  };
  if (d.status?.collisionCount) status.collisionCount = d.status.collisionCount;
  const minAvail = available >= desired - maxUnavailable;
  const availCond = minAvail
    ? condition(
        'Available',
        'True',
        'MinimumReplicasAvailable',
        'Deployment has minimum availability.',
        now,
        prevAvail,
        false,
      )
    : condition(
        'Available',
        'False',
        'MinimumReplicasUnavailable',
        'Deployment does not have minimum availability.',
        now,
        prevAvail,
        false,
      );
  const name = newRS?.metadata.name ?? plan.create?.metadata.name ?? '';
  const complete =
    !!newRS && updated === desired && replicas === desired && available === desired && spec(newRS) === desired;
  let progCond: Obj;
  if (paused) progCond = condition('Progressing', 'Unknown', 'DeploymentPaused', 'Deployment is paused', now, prevProg);
  else if (complete)
    progCond =
      prevProg?.reason === 'NewReplicaSetAvailable'
        ? prevProg
        : condition(
            'Progressing',
            'True',
            'NewReplicaSetAvailable',
            `ReplicaSet "${name}" has successfully progressed.`,
            now,
            prevProg,
          );
  else {
    const progressed =
      plan.create ||
      plan.scale.length ||
      JSON.stringify({ replicas, updated, available, ready }) !==
        JSON.stringify({
          replicas: d.status?.replicas ?? 0,
          updated: d.status?.updatedReplicas ?? 0,
          available: d.status?.availableReplicas ?? 0,
          ready: d.status?.readyReplicas ?? 0,
        });
    const deadline = d.spec?.progressDeadlineSeconds ?? 600;
    const last = prevProg?.lastUpdateTime ? Date.parse(prevProg.lastUpdateTime) : nowMs;
    if (!progressed && prevProg && prevProg.reason !== 'NewReplicaSetAvailable' && last + deadline * 1000 < nowMs) {
      progCond =
        prevProg.reason === 'ProgressDeadlineExceeded'
          ? prevProg
          : condition(
              'Progressing',
              'False',
              'ProgressDeadlineExceeded',
              `ReplicaSet "${name}" has timed out progressing.`,
              now,
              prevProg,
            );
    } else if (plan.create)
      progCond = condition(
        'Progressing',
        'True',
        'NewReplicaSetCreated',
        `Created new replica set "${name}"`,
        now,
        prevProg,
      );
    else if (
      progressed ||
      !prevProg ||
      prevProg.reason === 'NewReplicaSetAvailable' ||
      prevProg.reason === 'DeploymentPaused'
    )
      progCond = condition(
        'Progressing',
        'True',
        'ReplicaSetUpdated',
        `ReplicaSet "${name}" is progressing.`,
        now,
        prevProg,
      );
    else progCond = prevProg;
  }
  status.conditions = [availCond, progCond];
  plan.status = status;
  return plan;
}
