// The push channel's messages, typed: the NodeEvent and TunnelFrame shapes of channel.proto as
// proto-loader hands them over (keepCase, enums as strings, defaults filled), and the decoded
// event the agent applies, a union discriminated by `type` (and by `kind` for object events),
// so each object arrives as its typed Kubernetes kind. Both ends encode and decode here.
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import type {
  ConfigMap,
  EndpointSlice,
  Ingress,
  IngressClass,
  NetworkPolicy,
  Node,
  Pod,
  Secret,
  Service,
  Stored,
} from '../shared/kube/index.ts';

const PROTO = fileURLToPath(new URL('./channel.proto', import.meta.url));

/** Every kind the channel carries, with its type. */
export interface ChannelObjects {
  Pod: Pod;
  ConfigMap: ConfigMap;
  Secret: Secret;
  Node: Node;
  Service: Service;
  EndpointSlice: EndpointSlice;
  Ingress: Ingress;
  IngressClass: IngressClass;
  NetworkPolicy: NetworkPolicy;
}

export type ChannelKind = keyof ChannelObjects;

export const CHANNEL_KINDS: readonly ChannelKind[] = [
  'Pod',
  'ConfigMap',
  'Secret',
  'Node',
  'Service',
  'EndpointSlice',
  'Ingress',
  'IngressClass',
  'NetworkPolicy',
];

export type NodeEventType = 'SNAPSHOT_BEGIN' | 'SNAPSHOT_END' | 'UPSERT' | 'DELETE' | 'BOOKMARK';

/** skiff.v1.NodeEvent as it travels (proto3: every field present, empty when unset). */
export interface NodeEventWire {
  type: NodeEventType;
  kind: string;
  namespace: string;
  name: string;
  resource_version: string;
  object_json: string;
}

/** skiff.v1.WatchRequest. */
export interface WatchRequest {
  node_name: string;
  /** The last resourceVersion the agent applied; empty for a full snapshot. */
  resource_version: string;
}

export type TunnelFrameKind = 'hello' | 'request' | 'data' | 'end' | 'error';

/** skiff.v1.TunnelFrame; a writer sets only the fields its kind uses. */
export interface TunnelFrame {
  stream_id?: string;
  kind: TunnelFrameKind;
  node_name?: string;
  request_json?: string;
  data?: Buffer;
  error?: string;
}

/** An object event for one kind: the whole object (as the server stores it) on UPSERT, its name on DELETE. */
export type ObjectEvent<K extends ChannelKind = ChannelKind> = {
  [P in K]:
    | {
        type: 'UPSERT';
        kind: P;
        namespace: string;
        name: string;
        resourceVersion: string;
        object: Stored<ChannelObjects[P]>;
      }
    | { type: 'DELETE'; kind: P; namespace: string; name: string; resourceVersion: string };
}[K];

/** A decoded channel event. */
export type ChannelEvent =
  | { type: 'SNAPSHOT_BEGIN' }
  | { type: 'SNAPSHOT_END'; resourceVersion: string }
  | { type: 'BOOKMARK'; resourceVersion: string }
  | ObjectEvent;

export function isChannelKind(k: string): k is ChannelKind {
  return (CHANNEL_KINDS as readonly string[]).includes(k);
}

/** The event as it goes on the wire. */
export function encodeEvent(ev: ChannelEvent): NodeEventWire {
  const wire: NodeEventWire = {
    type: ev.type,
    kind: '',
    namespace: '',
    name: '',
    resource_version: '',
    object_json: '',
  };
  if (ev.type === 'SNAPSHOT_BEGIN') return wire;
  wire.resource_version = ev.resourceVersion;
  if (ev.type === 'SNAPSHOT_END' || ev.type === 'BOOKMARK') return wire;
  wire.kind = ev.kind;
  wire.namespace = ev.namespace;
  wire.name = ev.name;
  if (ev.type === 'UPSERT') wire.object_json = JSON.stringify(ev.object);
  return wire;
}

/**
 * The event a wire message carries; null for an object of a kind this agent does not know (a
 * newer server may send more kinds). Throws on a malformed message.
 */
export function decodeEvent(w: NodeEventWire): ChannelEvent | null {
  switch (w.type) {
    case 'SNAPSHOT_BEGIN':
      return { type: w.type };
    case 'SNAPSHOT_END':
    case 'BOOKMARK':
      return { type: w.type, resourceVersion: w.resource_version };
    case 'UPSERT':
    case 'DELETE': {
      if (!isChannelKind(w.kind)) return null;
      if (!w.name) throw new Error(`channel: ${w.type} of a ${w.kind} without a name`);
      const head = { kind: w.kind, namespace: w.namespace, name: w.name, resourceVersion: w.resource_version };
      if (w.type === 'DELETE') return { type: 'DELETE', ...head };
      const object: unknown = JSON.parse(w.object_json);
      if (typeof object !== 'object' || object === null || Array.isArray(object))
        throw new Error(`channel: UPSERT of ${w.kind} ${w.namespace}/${w.name} carries no object`);
      // The server sends objects of the kind it names, read from its own store.
      return { type: 'UPSERT', ...head, object } as ObjectEvent;
    }
    default:
      throw new Error(`channel: unknown event type "${String(w.type)}"`);
  }
}

/** The NodeChannel service's client methods (grpc-js generates them from channel.proto). */
export interface NodeChannelClient extends grpc.Client {
  Watch(req: WatchRequest, md: grpc.Metadata): grpc.ClientReadableStream<NodeEventWire>;
  Tunnel(md: grpc.Metadata): grpc.ClientDuplexStream<TunnelFrame, TunnelFrame>;
}

export interface ChannelPackage {
  NodeChannel: {
    new (
      address: string,
      credentials: grpc.ChannelCredentials,
      options?: Partial<grpc.ChannelOptions>,
    ): NodeChannelClient;
    service: grpc.ServiceDefinition;
  };
}

export function loadChannelPackage(): ChannelPackage {
  const def = loader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true });
  const root = grpc.loadPackageDefinition(def) as { skiff: { v1: unknown } };
  // The shape is channel.proto's, which this file describes.
  return root.skiff.v1 as ChannelPackage;
}
