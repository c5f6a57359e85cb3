// PodDisruptionBudgets: how many of the pods a budget selects may be disrupted now (healthy pods
// beyond minAvailable, or within maxUnavailable of the expected count). The eviction
// subresource refuses (429) when a budget has none left; the controller keeps each budget's
// status current for `kubectl get pdb`. Pure functions plus a small loop.
import type { Registry } from '../api/registry.ts';
import { RESOURCES } from '../api/resources.ts';
import type { Informer } from './informer.ts';
import { isReady } from './ownership.ts';
import { matchesLabelSelector } from '../shared/labels.ts';
import { resolveIntOrPercent } from './deployment-plan.ts';
import { ctxFor } from './pod-owner.ts';
import { writeStatus } from './replicaset.ts';
import type { Obj } from '../shared/kube/object.ts';

const PDBS = RESOURCES.find((r) => r.kind === 'PodDisruptionBudget')!;

export function budgetStatus(pdb: Obj, pods: Obj[]): Obj {
  const selected = pods.filter(
    (p) =>
      p.metadata.namespace === pdb.metadata.namespace &&
      matchesLabelSelector(pdb.spec?.selector, p.metadata.labels) &&
      p.status?.phase !== 'Succeeded' &&
      p.status?.phase !== 'Failed',
  );
  const expected = selected.length;
  const healthy = selected.filter((p) => !p.metadata.deletionTimestamp && isReady(p)).length;
  let desired: number;
  if (pdb.spec?.maxUnavailable !== undefined)
    desired = Math.max(0, expected - resolveIntOrPercent(pdb.spec.maxUnavailable, expected, true, '0'));
  else desired = resolveIntOrPercent(pdb.spec?.minAvailable ?? 1, expected, true, '1');
  return {
    observedGeneration: pdb.metadata.generation ?? 1,
    currentHealthy: healthy,
    desiredHealthy: desired,
    expectedPods: expected,
    disruptionsAllowed: Math.max(0, healthy - desired),
  };
}

/** The budget that forbids evicting this pod now, if any. Unready pods may always go. */
export function blockingBudget(pod: Obj, pdbs: Obj[], pods: Obj[]): Obj | undefined {
  if (!isReady(pod)) return undefined;
  return pdbs.find(
    (b) =>
      b.metadata.namespace === pod.metadata.namespace &&
      matchesLabelSelector(b.spec?.selector, pod.metadata.labels) &&
      budgetStatus(b, pods).disruptionsAllowed <= 0,
  );
}

export class DisruptionController {
  private reg: Registry;
  private pdbs: Informer;
  private pods: Informer;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private log: (s: string) => void;

  constructor(reg: Registry, pdbs: Informer, pods: Informer, log: (s: string) => void) {
    this.reg = reg;
    this.pdbs = pdbs;
    this.pods = pods;
    this.log = log;
  }

  start() {
    this.timer = setInterval(() => {
      void this.pass();
    }, 1000);
  }
  stop() {
    if (this.timer) clearInterval(this.timer);
  }

  private async pass() {
    if (this.busy) return;
    this.busy = true;
    try {
      for (const b of this.pdbs.list()) {
        await writeStatus(
          this.reg,
          PDBS,
          b,
          budgetStatus(b, this.pods.list(b.metadata.namespace)),
          ctxFor('disruption-controller'),
        );
      }
    } catch (e) {
      this.log(`disruption: ${(e as Error).message}`);
    } finally {
      this.busy = false;
    }
  }
}
