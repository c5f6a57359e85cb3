// What every controller that owns pods shares: an owner cache and the pod cache, a work queue
// keyed by owner, the pods an owner sees (cache, plus pods it just created and minus those it
// just deleted that the cache has not caught up with — kube's "expectations"), and creating
// and deleting pods with events. Subclasses say what to do in reconcile().
import type { Ctx, Registry } from '../api/registry.ts';
import { RESOURCES, type Resource } from '../api/resources.ts';
import { type Informer, keyOf } from './informer.ts';
import { WorkQueue } from './queue.ts';
import { EventRecorder } from './events.ts';
import { controllerOf, ignoreGone, selects } from './ownership.ts';
import type { Obj } from '../shared/kube/object.ts';

export const PODS = RESOURCES.find((r) => r.kind === 'Pod')!;

export function ctxFor(component: string): Ctx {
  return {
    user: `system:controller:${component}`,
    manager: component,
    dryRun: false,
    fieldValidation: 'Ignore',
    warnings: [],
  };
}

export abstract class PodOwnerController {
  protected reg: Registry;
  protected res: Resource;
  protected owners: Informer;
  protected pods: Informer;
  protected queue: WorkQueue;
  protected events: EventRecorder;
  protected ctx: Ctx;
  private created = new Map<string, Map<string, Obj>>();
  private deleted = new Map<string, Set<string>>();
  private timers: NodeJS.Timeout[] = [];

  constructor(
    reg: Registry,
    kind: string,
    component: string,
    owners: Informer,
    pods: Informer,
    log: (s: string) => void,
  ) {
    this.reg = reg;
    this.res = RESOURCES.find((r) => r.kind === kind)!;
    this.owners = owners;
    this.pods = pods;
    this.ctx = ctxFor(component);
    this.events = new EventRecorder(reg, component);
    this.queue = new WorkQueue(
      (k) => this.sync(k),
      (s) => log(`${kind} ${s}`),
    );
  }

  protected abstract reconcile(owner: Obj, pods: Obj[]): Promise<void>;

  /** Also wake owners on other changes (e.g. nodes for DaemonSets); every ms, all owners. */
  protected resyncEvery(ms: number) {
    this.timers.push(
      setInterval(() => {
        for (const o of this.owners.list()) this.queue.add(keyOf(o));
      }, ms),
    );
  }

  start() {
    this.owners.onChange((_t, o) => this.queue.add(keyOf(o)));
    this.pods.onChange((type, p, old) => {
      const k = keyOf(p);
      if (type !== 'DELETED') for (const m of this.created.values()) m.delete(k);
      else for (const s of this.deleted.values()) s.delete(k);
      const c = controllerOf(p) ?? (old ? controllerOf(old) : undefined);
      for (const o of this.owners.list(p.metadata.namespace)) {
        if (
          (c && c.uid === o.metadata.uid) ||
          (!c && (selects(o, p.metadata.labels) || (old && selects(o, old.metadata.labels))))
        )
          this.queue.add(keyOf(o));
      }
    });
    for (const o of this.owners.list()) this.queue.add(keyOf(o));
  }

  stop() {
    this.queue.stop();
    for (const t of this.timers) clearInterval(t);
  }

  private async sync(key: string) {
    const owner = this.owners.get(key);
    if (!owner) {
      this.created.delete(key);
      this.deleted.delete(key);
      return;
    }
    const gone = this.deleted.get(key) ?? new Set<string>();
    const fresh = [...(this.created.get(key)?.values() ?? [])].filter((p) => !this.pods.get(keyOf(p)));
    const pods = [...this.pods.list(owner.metadata.namespace).filter((p) => !gone.has(keyOf(p))), ...fresh];
    await this.reconcile(owner, pods);
  }

  protected async createPods(owner: Obj, pods: Obj[]): Promise<Obj[]> {
    if (!pods.length) return [];
    const key = keyOf(owner);
    let m = this.created.get(key);
    if (!m) this.created.set(key, (m = new Map()));
    const made: Obj[] = [];
    let failure: Error | null = null;
    await Promise.all(
      pods.map(async (p) => {
        try {
          made.push(await this.reg.create(PODS, owner.metadata.namespace, p, this.ctx));
        } catch (e) {
          failure = e as Error;
        }
      }),
    );
    for (const p of made) m.set(keyOf(p), p);
    if (made.length)
      void this.events.record(
        owner,
        'Normal',
        'SuccessfulCreate',
        `Created pod${made.length > 1 ? 's' : ''}: ${made.map((p) => p.metadata.name).join(', ')}`,
      );
    if (failure) {
      await this.events.record(owner, 'Warning', 'FailedCreate', `Error creating: ${(failure as Error).message}`);
      throw failure;
    }
    return made;
  }

  protected async deletePods(owner: Obj, pods: Obj[]): Promise<void> {
    if (!pods.length) return;
    const key = keyOf(owner);
    let s = this.deleted.get(key);
    if (!s) this.deleted.set(key, (s = new Set()));
    for (const p of pods) s.add(keyOf(p));
    await Promise.all(
      pods.map((p) =>
        this.reg
          .delete(PODS, p.metadata.namespace, p.metadata.name, { preconditions: { uid: p.metadata.uid } }, this.ctx)
          .catch(ignoreGone),
      ),
    );
    void this.events.record(
      owner,
      'Normal',
      'SuccessfulDelete',
      `Deleted pod${pods.length > 1 ? 's' : ''}: ${pods.map((p) => p.metadata.name).join(', ')}`,
    );
  }

  protected async setPodOwners(p: Obj, refs: Obj[]) {
    await this.reg
      .patch(
        PODS,
        p.metadata.namespace,
        p.metadata.name,
        'merge',
        { metadata: { ownerReferences: refs.length ? refs : null, resourceVersion: p.metadata.resourceVersion } },
        this.ctx,
      )
      .catch(ignoreGone);
  }
}
