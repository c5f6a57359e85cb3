// A Pod's rules: a pod bound to a node is deleted gracefully (it stays, with a deadline, until
// its node has stopped it and confirms with a grace of 0), and binding assigns it to a node once.
import type { Pod } from '../../shared/kube/index.ts';
import type { Resource } from '../resources.ts';
import { conflict, invalid } from '../status.ts';
import { defaultStrategy } from './default.ts';
import type { Strategy } from './strategy.ts';

/** The node a pods/binding body names; a Binding without one is invalid. */
export function bindingTarget(pod: string, binding: unknown): string {
  const target = (binding as { target?: { name?: unknown } } | null)?.target;
  const ok = typeof binding === 'object' && binding !== null && !Array.isArray(binding);
  if (!ok || typeof target !== 'object' || target === null || Array.isArray(target) || !target.name)
    throw invalid({ kind: 'Binding', group: '' }, pod, [
      { field: 'target.name', message: 'Required value', reason: 'FieldValueRequired' },
    ]);
  return target.name as string;
}

/** Assigns the pod to the node and marks it scheduled; a bound or deleted pod is a conflict. */
export function assignNode(pod: Pod, node: string, pods: Resource, now: string): void {
  const name = pod.metadata.name ?? '';
  if (pod.spec.nodeName) throw conflict(pods, name, `pod ${name} is already assigned to node "${pod.spec.nodeName}"`);
  if (pod.metadata.deletionTimestamp)
    throw conflict(pods, name, `pod ${name} is being deleted, cannot be assigned to a host`);
  pod.spec.nodeName = node;
  pod.status ??= {};
  pod.status.conditions = [
    ...(pod.status.conditions ?? []).filter((c) => c.type !== 'PodScheduled'),
    { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: now },
  ];
}

export const podStrategy: Strategy<Pod> = {
  ...defaultStrategy,
  deletionGrace(o, opts) {
    const phase = o.status?.phase;
    // A pod on no node, or one that has finished, has nothing to stop.
    if (!o.spec?.nodeName || phase === 'Succeeded' || phase === 'Failed') return 0;
    let grace = opts.gracePeriodSeconds ?? o.spec.terminationGracePeriodSeconds ?? 30;
    if (o.metadata.deletionGracePeriodSeconds !== undefined)
      grace = Math.min(grace, o.metadata.deletionGracePeriodSeconds);
    // A spec grace of 0 still lets the node stop the pod (as Kubernetes does, with 1 s); only
    // an explicit gracePeriodSeconds=0 (force, or the agent's own confirmation) removes it at once.
    if (grace === 0 && opts.gracePeriodSeconds !== 0) grace = 1;
    return grace;
  },
  // A bound pod stays until its node confirms with a grace of 0.
  staysAfterUpdate: (next, old) => next.metadata.deletionGracePeriodSeconds !== 0 && !!old.spec?.nodeName,
};
