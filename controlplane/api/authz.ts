// Authorization. Admins (system:masters) may do anything. A node's credential
// (system:node:NAME in group system:nodes) may read what a node needs, and write only its own
// Node, its own Lease and events. RBAC objects are stored but not evaluated yet.
import type { User } from './auth.ts';

export interface Attributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

const READ = new Set(['get', 'list', 'watch']);
// (PVCs and PVs: the kubelet resolves a pod's claims to the node directory behind them.)
const NODE_READS = new Set([
  'nodes',
  'pods',
  'services',
  'endpoints',
  'endpointslices',
  'namespaces',
  'configmaps',
  'ingresses',
  'ingressclasses',
  'networkpolicies',
  'leases',
  'persistentvolumeclaims',
  'persistentvolumes',
]);

export function authorize(user: User, a: Attributes): { allowed: boolean; reason: string } {
  if (user.groups.includes('system:masters')) return { allowed: true, reason: '' };
  if (user.groups.includes('system:nodes') && user.name.startsWith('system:node:')) {
    const node = user.name.slice('system:node:'.length);
    if (READ.has(a.verb) && NODE_READS.has(a.resource) && !a.subresource) return { allowed: true, reason: '' };
    if (a.resource === 'nodes' && !a.group) {
      if (a.verb === 'create' && !a.subresource && a.name === node) return { allowed: true, reason: '' };
      if (
        ['get', 'update', 'patch'].includes(a.verb) &&
        a.name === node &&
        (!a.subresource || a.subresource === 'status')
      )
        return { allowed: true, reason: '' };
    }
    if (
      a.resource === 'leases' &&
      a.group === 'coordination.k8s.io' &&
      a.namespace === 'kube-node-lease' &&
      a.name === node &&
      ['get', 'create', 'update', 'patch'].includes(a.verb)
    )
      return { allowed: true, reason: '' };
    if (a.resource === 'events' && ['create', 'update', 'patch'].includes(a.verb)) return { allowed: true, reason: '' };
    // Pod status and the final delete: the server checks that the pod is bound to this node.
    if (
      a.resource === 'pods' &&
      !a.group &&
      a.name &&
      ((a.subresource === 'status' && ['get', 'update', 'patch'].includes(a.verb)) ||
        (!a.subresource && a.verb === 'delete'))
    )
      return { allowed: true, reason: 'own pods only' };
    return {
      allowed: false,
      reason:
        `node "${node}" may not ${a.verb} ${a.resource}` +
        `${a.subresource ? '/' + a.subresource : ''}${a.name ? ` "${a.name}"` : ''}`,
    };
  }
  return { allowed: false, reason: 'no rule allows this user' };
}
