// StatefulSets: pods with stable names (<set>-<ordinal>), hostname and subdomain for stable DNS,
// one PVC per volumeClaimTemplate and ordinal (<claim>-<set>-<ordinal>, kept across restarts
// and scale-down); OrderedReady creates in order, each after the one before is Ready, and
// removes from the highest ordinal; Parallel does all at once; a new template rolls out in
// reverse ordinal order down to the partition. planStatefulSet is the pure part.
import type { Registry } from '../api/registry.ts';
import { RESOURCES } from '../api/resources.ts';
import { keyOf, type Informer } from './informer.ts';
import { controllerOf, ignoreGone, isActive, isReady } from './ownership.ts';
import { PodOwnerController } from './pod-owner.ts';
import { podFromTemplate, writeStatus } from './replicaset.ts';
import { templateHash } from './deployment-plan.ts';
import { REVISION_LABEL } from './daemonset.ts';
import { applyRevisions } from './controller-revisions.ts';
import type { ControllerRevision, Obj, Stored } from '../shared/kube/index.ts';

const PVCS = RESOURCES.find((r) => r.kind === 'PersistentVolumeClaim')!;

export interface StatefulPlan {
  create: Obj[];
  remove: Obj[];
  claims: Obj[];
  status: Obj;
}

export const ordinalOf = (sts: Obj, p: Obj): number => {
  const m = p.metadata.name.match(new RegExp(`^${sts.metadata.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d+)$`));
  return m ? Number(m[1]) : -1;
};

export function claimName(template: Obj, sts: Obj, i: number) {
  return `${template.metadata.name}-${sts.metadata.name}-${i}`;
}

export function statefulPod(sts: Obj, i: number, revision: string): Obj {
  const name = `${sts.metadata.name}-${i}`;
  const p = podFromTemplate(
    sts,
    {
      [REVISION_LABEL]: revision,
      'statefulset.kubernetes.io/pod-name': name,
      'apps.kubernetes.io/pod-index': String(i),
    },
    name,
  );
  p.spec.hostname = name;
  if (sts.spec?.serviceName) p.spec.subdomain = sts.spec.serviceName;
  const vols: Obj[] = p.spec.volumes ?? [];
  for (const t of sts.spec?.volumeClaimTemplates ?? []) {
    const v = { name: t.metadata.name, persistentVolumeClaim: { claimName: claimName(t, sts, i) } };
    const at = vols.findIndex((x) => x.name === v.name);
    if (at >= 0) vols[at] = v;
    else vols.push(v);
  }
  if (vols.length) p.spec.volumes = vols;
  return p;
}

export function planStatefulSet(sts: Obj, pods: Obj[], claims: Set<string>): StatefulPlan {
  const replicas = sts.spec?.replicas ?? 1;
  const parallel = sts.spec?.podManagementPolicy === 'Parallel';
  const revision = `${sts.metadata.name}-${templateHash(sts.spec?.template ?? {})}`;
  const mine = pods.filter((p) => controllerOf(p)?.uid === sts.metadata.uid && ordinalOf(sts, p) >= 0);
  const byOrdinal = new Map(mine.map((p) => [ordinalOf(sts, p), p]));
  const plan: StatefulPlan = { create: [], remove: [], claims: [], status: {} };
  const deleting = !!sts.metadata.deletionTimestamp;
  // Claims first: a pod is only made once its claims exist.
  for (let i = 0; i < replicas && !deleting; i++) {
    for (const t of sts.spec?.volumeClaimTemplates ?? []) {
      const name = claimName(t, sts, i);
      if (!claims.has(name))
        plan.claims.push({
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          metadata: { name, namespace: sts.metadata.namespace, labels: { ...(sts.spec?.selector?.matchLabels ?? {}) } },
          spec: structuredClone(t.spec ?? {}),
        });
    }
  }
  // Failed pods are replaced.
  for (const p of mine) if (p.status?.phase === 'Failed' && !p.metadata.deletionTimestamp) plan.remove.push(p);
  let blocked = false;
  for (let i = 0; i < replicas && !deleting; i++) {
    const p = byOrdinal.get(i);
    if (!p) {
      if (!blocked || parallel) plan.create.push(statefulPod(sts, i, revision));
      blocked = true;
      continue;
    }
    if (!parallel && (!isActive(p) || !isReady(p))) blocked = true;
    if (!parallel && blocked) break;
  }
  // Scale down from the highest ordinal; OrderedReady one at a time once the rest are Ready.
  const extra = mine
    .filter((p) => ordinalOf(sts, p) >= replicas && isActive(p))
    .sort((a, b) => ordinalOf(sts, b) - ordinalOf(sts, a));
  if (extra.length) {
    const others = mine.filter((p) => ordinalOf(sts, p) < replicas);
    if (parallel) plan.remove.push(...extra);
    else if (!mine.some((p) => p.metadata.deletionTimestamp) && others.every((p) => isReady(p)))
      plan.remove.push(extra[0]);
  }
  // Rolling update: from the highest ordinal down to the partition, one at a time when all are Ready.
  const strategy = sts.spec?.updateStrategy ?? {};
  if ((strategy.type ?? 'RollingUpdate') === 'RollingUpdate' && !extra.length && !plan.create.length) {
    const partition = strategy.rollingUpdate?.partition ?? 0;
    const inRange = mine.filter((p) => ordinalOf(sts, p) < replicas);
    const allReady = inRange.length === replicas && inRange.every((p) => isActive(p) && isReady(p));
    if (allReady) {
      const stale = inRange
        .filter((p) => ordinalOf(sts, p) >= partition && p.metadata.labels?.[REVISION_LABEL] !== revision)
        .sort((a, b) => ordinalOf(sts, b) - ordinalOf(sts, a));
      if (stale.length) plan.remove.push(stale[0]);
    }
  }
  const active = mine.filter((p) => isActive(p) && ordinalOf(sts, p) < replicas);
  const updated = active.filter((p) => p.metadata.labels?.[REVISION_LABEL] === revision);
  const current = active.length === updated.length ? revision : (sts.status?.currentRevision ?? revision);
  plan.status = {
    observedGeneration: sts.metadata.generation ?? 1,
    replicas: mine.filter(isActive).length,
    readyReplicas: active.filter(isReady).length,
    availableReplicas: active.filter(isReady).length,
    currentReplicas: current === revision ? updated.length : active.length - updated.length,
    updatedReplicas: updated.length,
    currentRevision: current,
    updateRevision: revision,
    collisionCount: 0,
  };
  return plan;
}

export class StatefulSetController extends PodOwnerController {
  private claimsInf: Informer;
  private revisions: Informer<Stored<ControllerRevision>>;
  constructor(
    reg: Registry,
    owners: Informer,
    pods: Informer,
    claims: Informer,
    revisions: Informer<Stored<ControllerRevision>>,
    log: (s: string) => void,
  ) {
    super(reg, 'StatefulSet', 'statefulset-controller', owners, pods, log);
    this.claimsInf = claims;
    this.revisions = revisions;
  }

  override start() {
    super.start();
    this.claimsInf.onChange((_t, c) => {
      for (const o of this.owners.list(c.metadata.namespace)) this.queue.add(keyOf(o));
    });
    this.resyncEvery(5000);
  }

  protected async reconcile(sts: Obj, pods: Obj[]) {
    if (!sts.metadata.deletionTimestamp)
      await applyRevisions(this.reg, this.revisions, sts, templateHash(sts.spec?.template ?? {}), this.ctx);
    const claims = new Set(this.claimsInf.list(sts.metadata.namespace).map((c) => c.metadata.name as string));
    const plan = planStatefulSet(sts, pods, claims);
    for (const c of plan.claims) {
      await this.reg.create(PVCS, sts.metadata.namespace, c, this.ctx).catch(ignoreGone);
      void this.events.record(
        sts,
        'Normal',
        'SuccessfulCreate',
        `create Claim ${c.metadata.name} in StatefulSet ${sts.metadata.name} success`,
      );
    }
    if (plan.claims.length) return; // pods once the claims are seen
    await this.deletePods(sts, plan.remove);
    await this.createPods(sts, plan.create).catch((e) => {
      if (!/already exists/.test((e as Error).message)) throw e;
    });
    await writeStatus(this.reg, this.res, sts, plan.status, this.ctx);
  }
}
