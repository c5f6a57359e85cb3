// Owner references and label selectors as the workload controllers use them. Pure.
import { matchesLabelSelector } from '../shared/labels.ts';
import { ApiError } from '../api/status.ts';
import type { Obj } from '../shared/kube/object.ts';

export const controllerOf = (o: Obj): Obj | undefined =>
  (o.metadata?.ownerReferences ?? []).find((r: Obj) => r.controller);

export function ownerRef(owner: Obj, blockOwnerDeletion = true): Obj {
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
export function selectorOf(owner: Obj): Obj | undefined {
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

export const isTerminal = (p: Obj) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
export const isActive = (p: Obj) => !isTerminal(p) && !p.metadata.deletionTimestamp;
export const isReady = (p: Obj) =>
  (p.status?.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True');

/** Ready for at least minReadySeconds at `now` (ms). */
export function isAvailable(p: Obj, minReadySeconds: number, now: number): boolean {
  const c = (p.status?.conditions ?? []).find((x: Obj) => x.type === 'Ready' && x.status === 'True');
  if (!c) return false;
  if (!minReadySeconds) return true;
  return Date.parse(c.lastTransitionTime ?? 0) + minReadySeconds * 1000 <= now;
}

/** For writes racing with others: a vanished object or a stale resourceVersion is not an error. */
export function ignoreGone(e: unknown) {
  if (!(e instanceof ApiError && (e.code === 404 || e.code === 409))) throw e;
}
