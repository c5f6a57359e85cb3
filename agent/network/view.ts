// The cluster's network view as one agent holds it: every Node, Service, EndpointSlice, Ingress,
// IngressClass and NetworkPolicy, and only the Secrets this node may see (its pods' and the TLS
// Secrets that Ingresses reference). The push channel fills it; the overlay, the service proxy,
// the DNS resolver and the ingress controller read it. Each subsystem subscribes and re-renders
// its desired state from the whole view (level-triggered): a change event names what changed
// only so that a subsystem can skip work that cannot be affected.
import type {
  EndpointSlice,
  Ingress,
  IngressClass,
  NetworkPolicy,
  Node,
  Secret,
  Service,
} from '../../controlplane/shared/kube/index.ts';

export interface NetworkObjects {
  nodes: Map<string, Node>;
  /** Keyed `namespace/name`, as are all namespaced maps. */
  services: Map<string, Service>;
  endpointSlices: Map<string, EndpointSlice>;
  ingresses: Map<string, Ingress>;
  ingressClasses: Map<string, IngressClass>;
  networkPolicies: Map<string, NetworkPolicy>;
  secrets: Map<string, Secret>;
}

export type NetworkKind = keyof NetworkObjects;

export interface NetworkChange {
  kind: NetworkKind;
  /** `namespace/name` (or the name for cluster-scoped kinds). */
  key: string;
}

export type NetworkListener = (changes: NetworkChange[]) => void;

/** Holds the view and tells subscribers what changed. Writes come from the channel only. */
export class NetworkView implements NetworkObjects {
  readonly nodes = new Map<string, Node>();
  readonly services = new Map<string, Service>();
  readonly endpointSlices = new Map<string, EndpointSlice>();
  readonly ingresses = new Map<string, Ingress>();
  readonly ingressClasses = new Map<string, IngressClass>();
  readonly networkPolicies = new Map<string, NetworkPolicy>();
  readonly secrets = new Map<string, Secret>();
  /** True once the first complete snapshot has arrived: subsystems must not prune before it. */
  synced = false;
  private readonly listeners = new Set<NetworkListener>();

  subscribe(fn: NetworkListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Tells every subscriber about a batch of changes (the channel calls it once per message batch). */
  notify(changes: NetworkChange[]): void {
    if (!changes.length) return;
    for (const fn of this.listeners) fn(changes);
  }
}

/** The map key of an object: `namespace/name`, or the name for cluster-scoped kinds. */
export function objectKey(o: { metadata: { name?: string; namespace?: string } }): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : String(o.metadata.name);
}
