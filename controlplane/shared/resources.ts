// Resource quantities and a pod's QoS class, as the API server (defaulting), the scheduler and
// the kubelet (cgroups) all compute them.
import type { Quantity, ResourceRequirements } from './kube/index.ts';

const SUFFIX: Record<string, number> = {
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
  Pi: 1024 ** 5,
  Ei: 1024 ** 6,
};

/** A resource quantity as a number in base units (cpu in cores, memory in bytes); 0 if absent. */
export function quantity(q: Quantity | undefined): number {
  if (q === undefined || q === null) return 0;
  const s = String(q);
  const m = s.match(/^([0-9.]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/);
  if (!m) return Number(s) || 0;
  return Number(m[1]) * (m[2] ? SUFFIX[m[2]] : 1);
}

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

/**
 * The QoS class of a pod's containers: Guaranteed when every container limits cpu and memory
 * and requests the same (a missing request defaults to the limit), BestEffort when none asks
 * for anything, Burstable otherwise. Quantities compare by value ("1" equals "1000m").
 */
export function qosClass(resources: ResourceRequirements[]): QosClass {
  let asks = false;
  let guaranteed = resources.length > 0;
  for (const r of resources) {
    const req = r.requests ?? {};
    const lim = r.limits ?? {};
    if (Object.keys(req).length || Object.keys(lim).length) asks = true;
    for (const k of ['cpu', 'memory']) {
      const l = lim[k];
      const q = req[k] ?? l;
      if (l === undefined || quantity(q) !== quantity(l)) guaranteed = false;
    }
  }
  if (!asks) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}
