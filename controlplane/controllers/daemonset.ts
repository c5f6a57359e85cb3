// DaemonSets: one pod per eligible node (nodeSelector, required node affinity, taints against
// the pod's tolerations plus the ones every daemon pod gets), placed by naming the node; pods on
// nodes no longer eligible go; a changed template rolls out node by node within maxUnavailable
// (OnDelete waits for the user). planDaemonSet is the pure part.
import type { Registry } from '../api/registry.ts';
import type { Informer } from './informer.ts';
import { keyOf } from './informer.ts';
import { controllerOf, isActive, isAvailable, isReady, ownerRef } from './ownership.ts';
import { PodOwnerController } from './pod-owner.ts';
import { podFromTemplate, writeStatus } from './replicaset.ts';
import { resolveIntOrPercent, templateHash } from './deployment-plan.ts';
import { matchesNodeSelector, tolerates } from '../scheduler/algorithm.ts';
import { applyRevisions } from './controller-revisions.ts';
import type { ControllerRevision, Named, Node, Obj, Stored } from '../shared/kube/index.ts';

export const REVISION_LABEL = 'controller-revision-hash';

/** Tolerations kube's DaemonSet controller adds to every daemon pod. */
export const DAEMON_TOLERATIONS = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
];

export interface DaemonPlan {
  create: Obj[];
  remove: Obj[];
  status: Obj;
}

export function daemonPod(ds: Obj, node: string, hash: string): Obj {
  const p = podFromTemplate(ds, { [REVISION_LABEL]: hash });
  p.spec.nodeName = node;
  const tol: Obj[] = p.spec.tolerations ?? [];
  for (const t of DAEMON_TOLERATIONS) if (!tol.some((x) => x.key === t.key && x.effect === t.effect)) tol.push(t);
  p.spec.tolerations = tol;
  return p;
}

export function eligible(ds: Obj, node: Node): boolean {
  const pod = { spec: ds.spec?.template?.spec ?? {} };
  if (!matchesNodeSelector(pod, node)) return false;
  const tol = [...(pod.spec.tolerations ?? []), ...DAEMON_TOLERATIONS];
  return (node.spec?.taints ?? []).every((t) => t.effect === 'PreferNoSchedule' || tolerates(tol, t));
}

export function planDaemonSet(ds: Obj, nodes: (Node & Named)[], pods: Obj[], now: number): DaemonPlan {
  const hash = templateHash(ds.spec?.template ?? {});
  const mine = pods.filter((p) => controllerOf(p)?.uid === ds.metadata.uid);
  const byNode = new Map<string, Obj[]>();
  for (const p of mine.filter(isActive)) {
    const n = p.spec?.nodeName ?? '';
    byNode.set(n, [...(byNode.get(n) ?? []), p]);
  }
  const minReady = ds.spec?.minReadySeconds ?? 0;
  const plan: DaemonPlan = { create: [], remove: [], status: {} };
  const want = nodes.filter((n) => eligible(ds, n));
  const wantNames = new Set(want.map((n) => n.metadata.name));
  let misscheduled = 0;
  for (const [n, ps] of byNode)
    if (!wantNames.has(n)) {
      plan.remove.push(...ps);
      misscheduled++;
    }
  // Failed daemon pods are replaced.
  plan.remove.push(...mine.filter((p) => p.status?.phase === 'Failed' && !p.metadata.deletionTimestamp));
  const current: Obj[] = [];
  for (const n of want) {
    const ps = (byNode.get(n.metadata.name) ?? []).sort(
      (a, b) => Date.parse(a.metadata.creationTimestamp ?? 0) - Date.parse(b.metadata.creationTimestamp ?? 0),
    );
    if (!ps.length) {
      if (!ds.metadata.deletionTimestamp) plan.create.push(daemonPod(ds, n.metadata.name, hash));
      continue;
    }
    current.push(ps[0]);
    plan.remove.push(...ps.slice(1));
  }
  if ((ds.spec?.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate') {
    const maxUnavailable = Math.max(
      1,
      resolveIntOrPercent(ds.spec?.updateStrategy?.rollingUpdate?.maxUnavailable, want.length, false, '1'),
    );
    const unavailable = want.length - current.filter((p) => isAvailable(p, minReady, now)).length;
    let budget = maxUnavailable - unavailable;
    // Old pods that are not available go first (they cost nothing), then available ones within budget.
    const old = current.filter((p) => p.metadata.labels?.[REVISION_LABEL] !== hash);
    for (const p of old.filter((x) => !isAvailable(x, minReady, now))) plan.remove.push(p);
    for (const p of old.filter((x) => isAvailable(x, minReady, now))) {
      if (budget <= 0) break;
      plan.remove.push(p);
      budget--;
    }
  }
  const updated = current.filter((p) => p.metadata.labels?.[REVISION_LABEL] === hash);
  plan.status = {
    currentNumberScheduled: current.length,
    numberMisscheduled: misscheduled,
    desiredNumberScheduled: want.length,
    numberReady: current.filter(isReady).length,
    updatedNumberScheduled: updated.length,
    numberAvailable: current.filter((p) => isAvailable(p, minReady, now)).length,
    numberUnavailable: want.length - current.filter((p) => isAvailable(p, minReady, now)).length,
    observedGeneration: ds.metadata.generation ?? 1,
  };
  return plan;
}

export class DaemonSetController extends PodOwnerController {
  private nodes: Informer<Stored<Node>>;
  private revisions: Informer<Stored<ControllerRevision>>;
  constructor(
    reg: Registry,
    owners: Informer,
    pods: Informer,
    nodes: Informer<Stored<Node>>,
    revisions: Informer<Stored<ControllerRevision>>,
    log: (s: string) => void,
  ) {
    super(reg, 'DaemonSet', 'daemonset-controller', owners, pods, log);
    this.nodes = nodes;
    this.revisions = revisions;
  }

  override start() {
    super.start();
    this.nodes.onChange(() => {
      for (const o of this.owners.list()) this.queue.add(keyOf(o));
    });
    this.resyncEvery(5000);
  }

  protected async reconcile(ds: Obj, pods: Obj[]) {
    // Adopt orphans the selector matches (after an orphaning delete and re-create).
    for (const p of pods) {
      if (
        !controllerOf(p) &&
        isActive(p) &&
        Object.entries(ds.spec?.selector?.matchLabels ?? {}).every(([k, v]) => p.metadata.labels?.[k] === v)
      ) {
        await this.setPodOwners(p, [...(p.metadata.ownerReferences ?? []), ownerRef(ds)]);
      }
    }
    if (!ds.metadata.deletionTimestamp)
      await applyRevisions(this.reg, this.revisions, ds, templateHash(ds.spec?.template ?? {}), this.ctx);
    const plan = planDaemonSet(ds, this.nodes.list(), pods, Date.now());
    await this.deletePods(ds, [...new Map(plan.remove.map((p) => [p.metadata.uid, p])).values()]);
    await this.createPods(ds, plan.create);
    await writeStatus(this.reg, this.res, ds, plan.status, this.ctx);
  }
}
