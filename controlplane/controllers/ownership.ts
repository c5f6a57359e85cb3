// Owner references and label selectors as the workload controllers use them. Pure.
import { matchesLabelSelector } from '../shared/labels.ts';
import { ApiError } from '../api/status.ts';
import type { Condition, KubeObject, LabelSelector, Obj, OwnerReference, Pod } from '../shared/kube/index.ts';

// Obj in the signatures below: the workload controllers that call these are not all typed yet.

export const controllerOf = (o: KubeObject | Obj): OwnerReference | undefined =>
  ((o.metadata?.ownerReferences ?? []) as OwnerReference[]).find((r) => r.controller);

export function ownerRef(owner: KubeObject | Obj, blockOwnerDeletion = true): OwnerReference {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
    controller: true,
    blockOwnerDeletion,
  };
}

/** ReplicationControllers select by a plain map; everything else by a LabelSelector. */
export function selectorOf(owner: Obj): LabelSelector | undefined {
  const sel = owner.spec?.selector;
  if (!sel) return undefined;
  if (owner.kind === 'ReplicationController') return { matchLabels: sel };
  return sel;
}

/** An empty selector selects nothing here (the API rejects it for these kinds anyway). */
export function selects(owner: Obj, labels: Record<string, string> | undefined): boolean {
  const sel = selectorOf(owner);
  if (!sel || (!Object.keys(sel.matchLabels ?? {}).length && !(sel.matchExpressions ?? []).length)) return false;
  return matchesLabelSelector(sel, labels);
}

type PodLike = Pick<Pod, 'metadata' | 'status'> | Obj;

export const isTerminal = (p: PodLike) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
export const isActive = (p: PodLike) => !isTerminal(p) && !p.metadata.deletionTimestamp;
const readyCondition = (p: PodLike) =>
  ((p.status?.conditions ?? []) as Condition[]).find((c) => c.type === 'Ready' && c.status === 'True');
export const isReady = (p: PodLike) => !!readyCondition(p);

/** Ready for at least minReadySeconds at `now` (ms). */
export function isAvailable(p: PodLike, minReadySeconds: number, now: number): boolean {
  const c = readyCondition(p);
  if (!c) return false;
  if (!minReadySeconds) return true;
  // No transition time: ready since an unknown moment, taken as long enough ago.
  return Date.parse(c.lastTransitionTime ?? '1970-01-01T00:00:00Z') + minReadySeconds * 1000 <= now;
}

/** For writes racing with others: a vanished object or a stale resourceVersion is not an error. */
export function ignoreGone(e: unknown) {
  if (!(e instanceof ApiError && (e.code === 404 || e.code === 409))) throw e;
}
