// Every resource the API serves: where it lives, what it is called, and its schema.
import type { Schema } from './schema/dsl.ts';
import * as core from './schema/core.ts';
import * as g from './schema/groups.ts';

export interface Resource {
  group: string; // '' for core
  version: string;
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  schema: Schema;
  /** Subresources served: status, scale, log, binding, eviction. */
  subresources: string[];
  /** Whether spec changes bump metadata.generation. */
  generation: boolean;
}

const all = ['all'];

function r(
  group: string,
  version: string,
  plural: string,
  kind: string,
  namespaced: boolean,
  schema: Schema,
  opts: { short?: string[]; cat?: string[]; sub?: string[]; gen?: boolean } = {},
): Resource {
  return {
    group,
    version,
    plural,
    kind,
    namespaced,
    schema,
    singular: kind.toLowerCase(),
    shortNames: opts.short ?? [],
    categories: opts.cat ?? [],
    subresources: opts.sub ?? [],
    generation: opts.gen ?? false,
  };
}

export const RESOURCES: Resource[] = [
  r('', 'v1', 'namespaces', 'Namespace', false, core.Namespace, { short: ['ns'], sub: ['status', 'finalize'] }),
  r('', 'v1', 'pods', 'Pod', true, core.Pod, {
    short: ['po'],
    cat: all,
    sub: ['status', 'log', 'binding', 'eviction', 'exec', 'portforward', 'attach', 'ephemeralcontainers'],
  }),
  r('', 'v1', 'services', 'Service', true, core.Service, { short: ['svc'], cat: all, sub: ['status'] }),
  r('', 'v1', 'endpoints', 'Endpoints', true, core.Endpoints, { short: ['ep'] }),
  r('', 'v1', 'nodes', 'Node', false, core.Node, { short: ['no'], sub: ['status'] }),
  r('', 'v1', 'configmaps', 'ConfigMap', true, core.ConfigMap, { short: ['cm'] }),
  r('', 'v1', 'secrets', 'Secret', true, core.Secret),
  r('', 'v1', 'serviceaccounts', 'ServiceAccount', true, core.ServiceAccount, { short: ['sa'] }),
  r('', 'v1', 'events', 'Event', true, core.Event, { short: ['ev'] }),
  r('', 'v1', 'persistentvolumes', 'PersistentVolume', false, core.PersistentVolume, {
    short: ['pv'],
    sub: ['status'],
  }),
  r('', 'v1', 'persistentvolumeclaims', 'PersistentVolumeClaim', true, core.PersistentVolumeClaim, {
    short: ['pvc'],
    sub: ['status'],
  }),
  r('', 'v1', 'replicationcontrollers', 'ReplicationController', true, core.ReplicationController, {
    short: ['rc'],
    cat: all,
    sub: ['status', 'scale'],
    gen: true,
  }),
  r('apps', 'v1', 'deployments', 'Deployment', true, g.Deployment, {
    short: ['deploy'],
    cat: all,
    sub: ['status', 'scale'],
    gen: true,
  }),
  r('apps', 'v1', 'replicasets', 'ReplicaSet', true, g.ReplicaSet, {
    short: ['rs'],
    cat: all,
    sub: ['status', 'scale'],
    gen: true,
  }),
  r('apps', 'v1', 'daemonsets', 'DaemonSet', true, g.DaemonSet, {
    short: ['ds'],
    cat: all,
    sub: ['status'],
    gen: true,
  }),
  r('apps', 'v1', 'statefulsets', 'StatefulSet', true, g.StatefulSet, {
    short: ['sts'],
    cat: all,
    sub: ['status', 'scale'],
    gen: true,
  }),
  r('apps', 'v1', 'controllerrevisions', 'ControllerRevision', true, g.ControllerRevision),
  r('batch', 'v1', 'jobs', 'Job', true, g.Job, { cat: all, sub: ['status'], gen: true }),
  r('batch', 'v1', 'cronjobs', 'CronJob', true, g.CronJob, { short: ['cj'], cat: all, sub: ['status'], gen: true }),
  r('networking.k8s.io', 'v1', 'ingresses', 'Ingress', true, g.Ingress, { short: ['ing'], sub: ['status'], gen: true }),
  r('networking.k8s.io', 'v1', 'ingressclasses', 'IngressClass', false, g.IngressClass),
  r('networking.k8s.io', 'v1', 'networkpolicies', 'NetworkPolicy', true, g.NetworkPolicy, {
    short: ['netpol'],
    gen: true,
  }),
  r('discovery.k8s.io', 'v1', 'endpointslices', 'EndpointSlice', true, g.EndpointSlice),
  r('coordination.k8s.io', 'v1', 'leases', 'Lease', true, g.Lease),
  r('rbac.authorization.k8s.io', 'v1', 'roles', 'Role', true, g.Role),
  r('rbac.authorization.k8s.io', 'v1', 'clusterroles', 'ClusterRole', false, g.ClusterRole),
  r('rbac.authorization.k8s.io', 'v1', 'rolebindings', 'RoleBinding', true, g.RoleBinding),
  r('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings', 'ClusterRoleBinding', false, g.ClusterRoleBinding),
  r('policy', 'v1', 'poddisruptionbudgets', 'PodDisruptionBudget', true, g.PodDisruptionBudget, {
    short: ['pdb'],
    sub: ['status'],
    gen: true,
  }),
  r('storage.k8s.io', 'v1', 'storageclasses', 'StorageClass', false, g.StorageClass, { short: ['sc'] }),
];

export const groupVersion = (res: Resource) => (res.group ? `${res.group}/${res.version}` : res.version);

/** Groups in the order discovery lists them (core first). */
export function groups(): { group: string; version: string; resources: Resource[] }[] {
  const out: { group: string; version: string; resources: Resource[] }[] = [];
  for (const res of RESOURCES) {
    let e = out.find((x) => x.group === res.group && x.version === res.version);
    if (!e) out.push((e = { group: res.group, version: res.version, resources: [] }));
    e.resources.push(res);
  }
  return out;
}

export function findResource(group: string, version: string, plural: string): Resource | undefined {
  return RESOURCES.find((x) => x.group === group && x.version === version && x.plural === plural);
}

export function findByKind(apiVersion: string, kind: string): Resource | undefined {
  return RESOURCES.find((x) => groupVersion(x) === apiVersion && x.kind === kind);
}
