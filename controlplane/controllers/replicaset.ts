// ReplicaSets and ReplicationControllers: the pods that match the selector are adopted (or
// released when they stop matching), created from the template up to spec.replicas, or deleted
// down to it — unscheduled, pending, not ready and younger pods first — and status is counted.
// planReplicas is the pure part; ReplicaSetController applies it through the registry.
import type { Ctx, Registry } from '../api/registry.ts';
import type { Resource } from '../api/resources.ts';
import type { Informer } from './informer.ts';
import { controllerOf, ignoreGone, isActive, isAvailable, isReady, ownerRef, selects } from './ownership.ts';
import { PodOwnerController } from './pod-owner.ts';
import type { Obj } from '../shared/kube/object.ts';

export interface ReplicaPlan {
  create: number;
  remove: Obj[];
  adopt: Obj[];
  release: Obj[];
  status: Obj;
}

/**
 * Deletion order: unassigned < assigned, Pending < Unknown < Running, not ready < ready, newer < older,
 * more restarts first.
 */
export function deletionRank(a: Obj, b: Obj): number {
  const assigned = (p: Obj) => (p.spec?.nodeName ? 1 : 0);
  const phase = (p: Obj) =>
    (({ Pending: 0, Unknown: 1, Running: 2 }) as Record<string, number>)[p.status?.phase ?? 'Pending'] ?? 0;
  const restarts = (p: Obj) =>
    (p.status?.containerStatuses ?? []).reduce((s: number, c: Obj) => s + (c.restartCount ?? 0), 0);
  return (
    assigned(a) - assigned(b) ||
    phase(a) - phase(b) ||
    Number(isReady(a)) - Number(isReady(b)) ||
    Date.parse(b.metadata.creationTimestamp ?? 0) - Date.parse(a.metadata.creationTimestamp ?? 0) ||
    restarts(b) - restarts(a)
  );
}

export function planReplicas(owner: Obj, pods: Obj[], now: number): ReplicaPlan {
  const uid = owner.metadata.uid;
  const replicas = owner.spec?.replicas ?? 1;
  const adopt: Obj[] = [],
    release: Obj[] = [];
  const mine: Obj[] = [];
  for (const p of pods) {
    const c = controllerOf(p);
    const matches = selects(owner, p.metadata.labels);
    if (c?.uid === uid) {
      if (matches) mine.push(p);
      else release.push(p);
    } else if (!c && matches && isActive(p) && !owner.metadata.deletionTimestamp) {
      adopt.push(p);
      mine.push(p);
    }
  }
  const active = mine.filter(isActive);
  const diff = active.length - replicas;
  const remove = diff > 0 ? [...active].sort(deletionRank).slice(0, diff) : [];
  const tmplLabels = owner.spec?.template?.metadata?.labels ?? {};
  const status: Obj = {
    replicas: active.length,
    fullyLabeledReplicas: active.filter((p) =>
      Object.entries(tmplLabels).every(([k, v]) => p.metadata.labels?.[k] === v),
    ).length,
    readyReplicas: active.filter(isReady).length,
    availableReplicas: active.filter((p) => isAvailable(p, owner.spec?.minReadySeconds ?? 0, now)).length,
    observedGeneration: owner.metadata.generation ?? 1,
  };
  return {
    create: owner.metadata.deletionTimestamp ? 0 : Math.max(0, Math.min(-diff, 500)),
    remove,
    adopt,
    release,
    status,
  };
}

/** A pod for the owner's template. */
export function podFromTemplate(owner: Obj, extraLabels: Record<string, string> = {}, name?: string): Obj {
  const t = owner.spec?.template ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...(name ? { name } : { generateName: `${owner.metadata.name}-` }),
      namespace: owner.metadata.namespace,
      labels: { ...(t.metadata?.labels ?? {}), ...extraLabels },
      ...(t.metadata?.annotations ? { annotations: t.metadata.annotations } : {}),
      ownerReferences: [ownerRef(owner)],
    },
    spec: structuredClone(t.spec ?? {}),
  };
}

/** Writes .status through the status subresource unless it is already what we computed. */
export async function writeStatus(reg: Registry, res: Resource, obj: Obj, status: Obj, ctx: Ctx): Promise<void> {
  const cur = obj.status ?? {};
  if (Object.entries(status).every(([k, v]) => JSON.stringify(cur[k]) === JSON.stringify(v))) return;
  await reg
    .patch(res, obj.metadata.namespace, obj.metadata.name, 'merge', { status }, ctx, { sub: 'status' })
    .catch(ignoreGone);
}

export class ReplicaSetController extends PodOwnerController {
  constructor(
    reg: Registry,
    kind: 'ReplicaSet' | 'ReplicationController',
    owners: Informer,
    pods: Informer,
    log: (s: string) => void,
  ) {
    super(reg, kind, kind === 'ReplicaSet' ? 'replicaset-controller' : 'replication-controller', owners, pods, log);
  }

  override start() {
    super.start();
    // minReadySeconds: availability changes with time alone.
    this.resyncEvery(5000);
  }

  protected async reconcile(owner: Obj, pods: Obj[]) {
    const plan = planReplicas(owner, pods, Date.now());
    for (const p of plan.adopt) await this.setPodOwners(p, [...(p.metadata.ownerReferences ?? []), ownerRef(owner)]);
    for (const p of plan.release)
      await this.setPodOwners(
        p,
        (p.metadata.ownerReferences ?? []).filter((r: Obj) => r.uid !== owner.metadata.uid),
      );
    await this.createPods(
      owner,
      Array.from({ length: plan.create }, () => podFromTemplate(owner)),
    );
    await this.deletePods(owner, plan.remove);
    await writeStatus(this.reg, this.res, owner, plan.status, this.ctx);
  }
}
