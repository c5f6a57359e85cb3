// EndpointSlice (discovery.k8s.io/v1): the endpoints of a Service as the proxy, DNS and ingress read them.
import type { ObjectReference } from './core.ts';
import type { KubeObject } from './meta.ts';
import type { Protocol } from './pod.ts';

export interface EndpointConditions {
  /** Absent means ready (the API's rule for consumers). */
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export interface Endpoint {
  addresses: string[];
  conditions?: EndpointConditions;
  hostname?: string;
  nodeName?: string;
  zone?: string;
  targetRef?: ObjectReference;
  hints?: { forZones?: { name: string }[]; forNodes?: { name: string }[] };
}

export interface EndpointPort {
  name?: string;
  protocol?: Protocol;
  port?: number;
  appProtocol?: string;
}

export interface EndpointSlice extends KubeObject {
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  endpoints: Endpoint[];
  ports?: EndpointPort[];
}

/** The label that ties a slice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** The label naming who manages a slice (Skiff's controller, the mirroring controller, or a user). */
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
