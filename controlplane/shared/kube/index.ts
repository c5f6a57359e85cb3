// Skiff's typed model of the Kubernetes objects it reads and writes, as JSON on the wire.
// Import from here: `import type { Service, EndpointSlice } from '.../shared/kube/index.ts'`.
export type * from './core.ts';
export type * from './discovery.ts';
export type * from './meta.ts';
export type * from './networking.ts';
export type * from './pod.ts';
export type * from './workloads.ts';
export type { Obj } from './object.ts';
export { MANAGED_BY_LABEL, SERVICE_NAME_LABEL } from './discovery.ts';
export { DEFAULT_INGRESS_CLASS_ANNOTATION, LEGACY_INGRESS_CLASS_ANNOTATION } from './networking.ts';
