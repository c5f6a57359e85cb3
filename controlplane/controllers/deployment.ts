// Deployments: applies planDeployment through the registry — creates the new ReplicaSet, sets
// replica counts and revision annotations, removes history beyond the limit, adopts orphaned
// ReplicaSets its selector matches, and writes status. Level-triggered on Deployment and
// ReplicaSet changes, and every 5 s for progress deadlines.
import type { Ctx, Registry } from '../api/registry.ts';
import { RESOURCES } from '../api/resources.ts';
import { ApiError } from '../api/status.ts';
import { type Informer, keyOf } from './informer.ts';
import { WorkQueue } from './queue.ts';
import { EventRecorder } from './events.ts';
import { controllerOf, ownerRef, selects, ignoreGone } from './ownership.ts';
import { planDeployment, REVISION } from './deployment-plan.ts';
import { writeStatus } from './replicaset.ts';
import { ctxFor } from './pod-owner.ts';
import type { Obj } from '../shared/kube/object.ts';

const DEPLOY = RESOURCES.find((r) => r.kind === 'Deployment')!;
const RS = RESOURCES.find((r) => r.kind === 'ReplicaSet')!;

export class DeploymentController {
  private reg: Registry;
  private deploys: Informer;
  private rss: Informer;
  private queue: WorkQueue;
  private events: EventRecorder;
  private ctx: Ctx = ctxFor('deployment-controller');
  private timer: NodeJS.Timeout | null = null;

  constructor(reg: Registry, deploys: Informer, rss: Informer, log: (s: string) => void) {
    this.reg = reg;
    this.deploys = deploys;
    this.rss = rss;
    this.events = new EventRecorder(reg, 'deployment-controller');
    this.queue = new WorkQueue(
      (k) => this.sync(k),
      (s) => log(`Deployment ${s}`),
    );
  }

  start() {
    this.deploys.onChange((_t, d) => this.queue.add(keyOf(d)));
    this.rss.onChange((_t, rs) => {
      const c = controllerOf(rs);
      for (const d of this.deploys.list(rs.metadata.namespace)) {
        if (c ? c.uid === d.metadata.uid : selects(d, rs.metadata.labels)) this.queue.add(keyOf(d));
      }
    });
    for (const d of this.deploys.list()) this.queue.add(keyOf(d));
    this.timer = setInterval(() => {
      for (const d of this.deploys.list()) this.queue.add(keyOf(d));
    }, 5000);
  }

  stop() {
    this.queue.stop();
    if (this.timer) clearInterval(this.timer);
  }

  private async sync(key: string) {
    const d = this.deploys.get(key);
    if (!d) return;
    const ns = d.metadata.namespace;
    const inNs = this.rss.list(ns);
    // Adopt ReplicaSets that match and have no controller (e.g. after an orphaning delete).
    for (const rs of inNs) {
      if (!controllerOf(rs) && selects(d, rs.metadata.labels) && !d.metadata.deletionTimestamp) {
        await this.reg
          .patch(
            RS,
            ns,
            rs.metadata.name,
            'merge',
            {
              metadata: {
                ownerReferences: [...(rs.metadata.ownerReferences ?? []), ownerRef(d)],
                resourceVersion: rs.metadata.resourceVersion,
              },
            },
            this.ctx,
          )
          .catch(ignoreGone);
        return;
      }
    }
    const plan = planDeployment(d, inNs, Date.now());
    if (plan.create) {
      try {
        await this.reg.create(RS, ns, plan.create, this.ctx);
        void this.events.record(
          d,
          'Normal',
          'ScalingReplicaSet',
          `Scaled up replica set ${plan.create.metadata.name} to ${plan.create.spec.replicas}`,
        );
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 409)) throw e;
        // A ReplicaSet of that name that is not ours: a hash collision; the next hash is tried.
        const other = this.rss.get(`${ns}/${plan.create.metadata.name}`);
        if (other && controllerOf(other)?.uid !== d.metadata.uid) {
          await writeStatus(
            this.reg,
            DEPLOY,
            d,
            { ...plan.status, collisionCount: (d.status?.collisionCount ?? 0) + 1 },
            this.ctx,
          );
          return;
        }
      }
    }
    for (const s of plan.scale) {
      const rs = this.rss.get(`${ns}/${s.name}`);
      if (!rs) continue;
      const patch: Obj = { spec: { replicas: s.replicas }, metadata: { resourceVersion: rs.metadata.resourceVersion } };
      if (s.annotations) patch.metadata.annotations = s.annotations;
      await this.reg.patch(RS, ns, s.name, 'merge', patch, this.ctx).catch(ignoreGone);
      const before = rs.spec?.replicas ?? 0;
      if (before !== s.replicas)
        void this.events.record(
          d,
          'Normal',
          'ScalingReplicaSet',
          `Scaled ${s.replicas > before ? 'up' : 'down'} replica set ${s.name} to ${s.replicas} from ${before}`,
        );
    }
    for (const name of plan.remove)
      await this.reg.delete(RS, ns, name, { propagationPolicy: 'Background' }, this.ctx).catch(ignoreGone);
    if (plan.revision && d.metadata.annotations?.[REVISION] !== plan.revision) {
      await this.reg
        .patch(
          DEPLOY,
          ns,
          d.metadata.name,
          'merge',
          { metadata: { annotations: { [REVISION]: plan.revision } } },
          this.ctx,
        )
        .catch(ignoreGone);
    }
    const fresh = this.deploys.get(key) ?? d;
    await writeStatus(this.reg, DEPLOY, fresh, plan.status, this.ctx);
  }
}
