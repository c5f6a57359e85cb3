// The garbage collector: dependents whose owners (by uid) are all gone are deleted in the
// background; an owner being deleted in the foreground (finalizer foregroundDeletion) has its
// dependents deleted first and loses the finalizer once none that block it remain; an owner
// deleted with orphan propagation (finalizer orphan) has its references removed from its
// dependents, then loses the finalizer. Level-triggered: a scan of the caches on changes.
import type { Ctx, Registry } from '../api/registry.ts';
import type { Resource } from '../api/resources.ts';
import { ApiError } from '../api/status.ts';
import type { Informer } from './informer.ts';
import { ctxFor } from './pod-owner.ts';
import type { KubeObject, ObjectMeta, OwnerReference } from '../shared/kube/index.ts';

/** An object of any watched kind, as the registry hands it back: with its kind, name and uid. */
export type GcObject = KubeObject & { kind: string; metadata: ObjectMeta & { name: string; uid: string } };

export interface GcActions {
  remove: GcObject[];
  /** Of `remove`: dependents of a foreground deletion that have dependents of their own. */
  foreground: Set<GcObject>;
  unblock: GcObject[];
  orphan: { dependent: GcObject; ownerUid: string }[];
  finalize: { owner: GcObject; finalizer: string }[];
}

/** Pure: what to do, given every watched object (with its kind) and which kinds are watched. */
export function planGc(objects: GcObject[], watchedKinds: Set<string>): GcActions {
  const byUid = new Map(objects.map((o) => [o.metadata.uid, o]));
  const dependents = new Map<string, GcObject[]>();
  for (const o of objects)
    for (const r of o.metadata.ownerReferences ?? []) {
      let l = dependents.get(r.uid);
      if (!l) dependents.set(r.uid, (l = []));
      l.push(o);
    }
  const out: GcActions = { remove: [], foreground: new Set(), unblock: [], orphan: [], finalize: [] };
  for (const o of objects) {
    const refs = o.metadata.ownerReferences ?? [];
    if (!refs.length || o.metadata.deletionTimestamp) continue;
    // Only refs to kinds we watch can be judged; a ref to an unknown kind keeps the object.
    if (refs.every((r) => watchedKinds.has(r.kind) && !byUid.has(r.uid))) {
      out.remove.push(o);
      continue;
    }
    for (const r of refs) {
      const owner = byUid.get(r.uid);
      if (!owner?.metadata.deletionTimestamp) continue;
      const fin = owner.metadata.finalizers ?? [];
      if (fin.includes('orphan')) out.orphan.push({ dependent: o, ownerUid: r.uid });
      else if (fin.includes('foregroundDeletion')) {
        // As upstream: a dependent that owns others is deleted in the foreground too, so the
        // owner waits for the whole tree (a Deployment for its ReplicaSet's pods).
        out.remove.push(o);
        if (dependents.has(o.metadata.uid)) out.foreground.add(o);
      }
    }
  }
  for (const owner of objects) {
    if (!owner.metadata.deletionTimestamp) continue;
    const fin = owner.metadata.finalizers ?? [];
    const deps = dependents.get(owner.metadata.uid) ?? [];
    if (fin.includes('orphan') && deps.length === 0) out.finalize.push({ owner, finalizer: 'orphan' });
    const blocking = deps.filter((d) =>
      (d.metadata.ownerReferences ?? []).some((r) => r.uid === owner.metadata.uid && r.blockOwnerDeletion),
    );
    if (fin.includes('foregroundDeletion') && blocking.length === 0)
      out.finalize.push({ owner, finalizer: 'foregroundDeletion' });
  }
  return out;
}

export class GarbageCollector {
  private reg: Registry;
  private informers: Informer[];
  private ctx: Ctx = ctxFor('generic-garbage-collector');
  private log: (s: string) => void;
  private busy = false;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private pendingScan: NodeJS.Timeout | null = null;

  constructor(reg: Registry, informers: Informer[], log: (s: string) => void) {
    this.reg = reg;
    this.informers = informers;
    this.log = log;
  }

  start() {
    this.reg.gcRunning = true;
    for (const inf of this.informers) inf.onChange(() => this.soon());
    this.timer = setInterval(() => this.soon(), 10_000);
    this.soon();
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    if (this.pendingScan) clearTimeout(this.pendingScan);
  }

  private soon() {
    if (this.pendingScan) return;
    this.pendingScan = setTimeout(() => {
      this.pendingScan = null;
      void this.scan();
    }, 200);
  }

  private async scan() {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    try {
      const resOf = new Map<string, Resource>();
      const objects: GcObject[] = [];
      for (const inf of this.informers) {
        resOf.set(inf.res.kind, inf.res);
        // Registry objects carry their kind and the uid the store gave them.
        objects.push(...(inf.list() as GcObject[]));
      }
      const plan = planGc(objects, new Set(resOf.keys()));
      const tolerate = (e: unknown) => {
        if (!(e instanceof ApiError && (e.code === 404 || e.code === 409))) this.log(`gc: ${(e as Error).message}`);
      };
      // The caches may lag (an owner created a moment ago): ask the store before deleting.
      const ownerGone = async (o: GcObject) => {
        for (const r of o.metadata.ownerReferences ?? []) {
          const res = resOf.get(r.kind);
          if (!res) return false;
          try {
            const owner = await this.reg.get(res, res.namespaced ? o.metadata.namespace : undefined, r.name);
            if (owner.metadata.uid === r.uid && !(owner.metadata.finalizers ?? []).includes('foregroundDeletion'))
              return false;
          } catch (e) {
            if (!(e instanceof ApiError && e.code === 404)) return false;
          }
        }
        return true;
      };
      plan.remove = (await Promise.all(plan.remove.map(async (o) => ((await ownerGone(o)) ? o : null)))).filter(
        (o): o is GcObject => !!o,
      );
      await Promise.all(
        plan.remove.map((o) =>
          this.reg
            .delete(
              resOf.get(o.kind)!,
              o.metadata.namespace,
              o.metadata.name,
              {
                propagationPolicy: plan.foreground.has(o) ? 'Foreground' : 'Background',
                preconditions: { uid: o.metadata.uid },
              },
              this.ctx,
            )
            .catch(tolerate),
        ),
      );
      for (const { dependent: o, ownerUid } of plan.orphan) {
        const refs: OwnerReference[] = (o.metadata.ownerReferences ?? []).filter((r) => r.uid !== ownerUid);
        await this.reg
          .patch(
            resOf.get(o.kind)!,
            o.metadata.namespace,
            o.metadata.name,
            'merge',
            { metadata: { ownerReferences: refs.length ? refs : null, resourceVersion: o.metadata.resourceVersion } },
            this.ctx,
          )
          .catch(tolerate);
      }
      for (const { owner, finalizer } of plan.finalize) {
        const fin = (owner.metadata.finalizers ?? []).filter((f) => f !== finalizer);
        await this.reg
          .patch(
            resOf.get(owner.kind)!,
            owner.metadata.namespace,
            owner.metadata.name,
            'merge',
            { metadata: { finalizers: fin.length ? fin : null, resourceVersion: owner.metadata.resourceVersion } },
            this.ctx,
          )
          .catch(tolerate);
      }
    } finally {
      this.busy = false;
      if (this.again) {
        this.again = false;
        this.soon();
      }
    }
  }
}
