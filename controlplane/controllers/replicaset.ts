// ReplicaSets and ReplicationControllers: the pods that match the selector are adopted (or
// released when they stop matching), created from the template up to spec.replicas, or deleted
// down to it — unscheduled, pending, not ready and younger pods first — and status is counted.
// planReplicas is the pure part; ReplicaSetController applies it through the registry.
import type { Ctx, Registry } from '../api/registry.ts';
import { RESOURCES, type Resource } from '../api/resources.ts';
import { ApiError } from '../api/status.ts';
import { Informer, keyOf } from './informer.ts';
import { WorkQueue } from './queue.ts';
import { EventRecorder } from './events.ts';
import { controllerOf, isActive, isAvailable, isReady, ownerRef, selects } from './ownership.ts';

type Obj = Record<string, any>;
const PODS = RESOURCES.find((r) => r.kind === 'Pod')!;

export interface ReplicaPlan {
  create: number;
  remove: Obj[];
  adopt: Obj[];
  release: Obj[];
  status: Obj;
}

/** Deletion order: unassigned < assigned, Pending < Unknown < Running, not ready < ready, newer < older, more restarts first. */
export function deletionRank(a: Obj, b: Obj): number {
  const assigned = (p: Obj) => (p.spec?.nodeName ? 1 : 0);
  const phase = (p: Obj) => ({ Pending: 0, Unknown: 1, Running: 2 } as Record<string, number>)[p.status?.phase ?? 'Pending'] ?? 0;
  const restarts = (p: Obj) => (p.status?.containerStatuses ?? []).reduce((s: number, c: Obj) => s + (c.restartCount ?? 0), 0);
  return assigned(a) - assigned(b) || phase(a) - phase(b) || Number(isReady(a)) - Number(isReady(b))
    || Date.parse(b.metadata.creationTimestamp ?? 0) - Date.parse(a.metadata.creationTimestamp ?? 0) || restarts(b) - restarts(a);
}

export function planReplicas(owner: Obj, pods: Obj[], now: number): ReplicaPlan {
  const uid = owner.metadata.uid;
  const replicas = owner.spec?.replicas ?? 1;
  const adopt: Obj[] = [], release: Obj[] = [];
  const mine: Obj[] = [];
  for (const p of pods) {
    const c = controllerOf(p);
    const matches = selects(owner, p.metadata.labels);
    if (c?.uid === uid) { if (matches) mine.push(p); else release.push(p); }
    else if (!c && matches && isActive(p) && !owner.metadata.deletionTimestamp) { adopt.push(p); mine.push(p); }
  }
  const active = mine.filter(isActive);
  const diff = active.length - replicas;
  const remove = diff > 0 ? [...active].sort(deletionRank).slice(0, diff) : [];
  const tmplLabels = owner.spec?.template?.metadata?.labels ?? {};
  const status: Obj = {
    replicas: active.length,
    fullyLabeledReplicas: active.filter((p) => Object.entries(tmplLabels).every(([k, v]) => p.metadata.labels?.[k] === v)).length,
    readyReplicas: active.filter(isReady).length,
    availableReplicas: active.filter((p) => isAvailable(p, owner.spec?.minReadySeconds ?? 0, now)).length,
    observedGeneration: owner.metadata.generation ?? 1,
  };
  return { create: owner.metadata.deletionTimestamp ? 0 : Math.max(0, Math.min(-diff, 500)), remove, adopt, release, status };
}

/** A pod for the owner's template. */
export function podFromTemplate(owner: Obj, extraLabels: Record<string, string> = {}, name?: string): Obj {
  const t = owner.spec?.template ?? {};
  return {
    apiVersion: 'v1', kind: 'Pod',
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

export function ctxFor(component: string): Ctx {
  return { user: `system:controller:${component}`, manager: component, dryRun: false, fieldValidation: 'Ignore', warnings: [] };
}

/** Writes .status through the status subresource unless it is already what we computed. */
export async function writeStatus(reg: Registry, res: Resource, obj: Obj, status: Obj, ctx: Ctx): Promise<void> {
  const cur = obj.status ?? {};
  if (Object.entries(status).every(([k, v]) => JSON.stringify(cur[k]) === JSON.stringify(v))) return;
  try { await reg.patch(res, obj.metadata.namespace, obj.metadata.name, 'merge', { status }, ctx, { sub: 'status' }); }
  catch (e) { if (!(e instanceof ApiError && (e.code === 404 || e.code === 409))) throw e; }
}

export class ReplicaSetController {
  private reg: Registry;
  private res: Resource;
  private owners: Informer;
  private pods: Informer;
  private queue: WorkQueue;
  private events: EventRecorder;
  private ctx: Ctx;
  // Pods created or deleted but not yet seen so in the cache (kube's "expectations").
  private created = new Map<string, Map<string, Obj>>();
  private deleted = new Map<string, Set<string>>();

  constructor(reg: Registry, kind: 'ReplicaSet' | 'ReplicationController', owners: Informer, pods: Informer, log: (s: string) => void) {
    this.reg = reg;
    this.res = RESOURCES.find((r) => r.kind === kind)!;
    this.owners = owners;
    this.pods = pods;
    const name = kind === 'ReplicaSet' ? 'replicaset-controller' : 'replication-controller';
    this.ctx = ctxFor(name);
    this.events = new EventRecorder(reg, name);
    this.queue = new WorkQueue((k) => this.sync(k), (s) => log(`${kind} ${s}`));
  }

  start() {
    this.owners.onChange((_t, o) => this.queue.add(keyOf(o)));
    this.pods.onChange((type, p, old) => {
      const ns = p.metadata.namespace;
      for (const [k, m] of this.created) if (m.has(keyOf(p)) && type !== 'DELETED') { m.delete(keyOf(p)); void k; }
      if (type === 'DELETED') for (const s of this.deleted.values()) s.delete(keyOf(p));
      // The owners whose selection may have changed: the controller, or any that selects the labels.
      const c = controllerOf(p) ?? (old ? controllerOf(old) : undefined);
      for (const o of this.owners.list(ns)) {
        if ((c && c.uid === o.metadata.uid) || (!c && (selects(o, p.metadata.labels) || (old && selects(o, old.metadata.labels))))) this.queue.add(keyOf(o));
      }
    });
    for (const o of this.owners.list()) this.queue.add(keyOf(o));
    // minReadySeconds: availability changes with time alone.
    setInterval(() => { for (const o of this.owners.list()) if (o.spec?.minReadySeconds) this.queue.add(keyOf(o)); }, 5000).unref();
  }

  stop() { this.queue.stop(); }

  private async sync(key: string) {
    const owner = this.owners.get(key);
    if (!owner) { this.created.delete(key); this.deleted.delete(key); return; }
    const ns = owner.metadata.namespace;
    const gone = this.deleted.get(key) ?? new Set<string>();
    const fresh = [...(this.created.get(key)?.values() ?? [])];
    const pods = [...this.pods.list(ns).filter((p) => !gone.has(keyOf(p))), ...fresh.filter((p) => !this.pods.get(keyOf(p)))];
    const plan = planReplicas(owner, pods, Date.now());
    for (const p of plan.adopt) await this.setOwner(p, [...(p.metadata.ownerReferences ?? []), ownerRef(owner)]);
    for (const p of plan.release) await this.setOwner(p, (p.metadata.ownerReferences ?? []).filter((r: Obj) => r.uid !== owner.metadata.uid));
    if (plan.create) {
      let m = this.created.get(key);
      if (!m) this.created.set(key, (m = new Map()));
      const made = await Promise.all(Array.from({ length: plan.create }, async () => {
        try { return await this.reg.create(PODS, ns, podFromTemplate(owner), this.ctx); } catch (e) {
          await this.events.record(owner, 'Warning', 'FailedCreate', `Error creating: ${(e as Error).message}`);
          throw e;
        }
      }));
      for (const p of made) m.set(keyOf(p), p);
      void this.events.record(owner, 'Normal', 'SuccessfulCreate', `Created pod${made.length > 1 ? 's' : ''}: ${made.map((p) => p.metadata.name).join(', ')}`);
    }
    if (plan.remove.length) {
      let s = this.deleted.get(key);
      if (!s) this.deleted.set(key, (s = new Set()));
      for (const p of plan.remove) s.add(keyOf(p));
      await Promise.all(plan.remove.map((p) => this.reg.delete(PODS, ns, p.metadata.name, { preconditions: { uid: p.metadata.uid } }, this.ctx).catch((e) => {
        if (!(e instanceof ApiError && (e.code === 404 || e.code === 409))) throw e;
      })));
      void this.events.record(owner, 'Normal', 'SuccessfulDelete', `Deleted pod${plan.remove.length > 1 ? 's' : ''}: ${plan.remove.map((p) => p.metadata.name).join(', ')}`);
    }
    await writeStatus(this.reg, this.res, owner, plan.status, this.ctx);
  }

  private async setOwner(p: Obj, refs: Obj[]) {
    try { await this.reg.patch(PODS, p.metadata.namespace, p.metadata.name, 'merge', { metadata: { ownerReferences: refs.length ? refs : null, resourceVersion: p.metadata.resourceVersion } }, this.ctx); }
    catch (e) { if (!(e instanceof ApiError && (e.code === 404 || e.code === 409))) throw e; }
  }
}
