// The agent end of the push channel: keeps the node's desired state (its pods and the
// ConfigMaps and Secrets they use) and the cluster's network view from the server's stream,
// reconnecting with back-off and resuming from the last resourceVersion it applied (a full
// snapshot when that is too old).
import * as grpc from '@grpc/grpc-js';
import {
  type ChannelEvent,
  type ChannelKind,
  decodeEvent,
  loadChannelPackage,
  type NodeChannelClient,
  type NodeEventWire,
  type ObjectEvent,
} from '../controlplane/channel/messages.ts';
import type { ConfigMap, KubeObject, Pod, Secret, Stored } from '../controlplane/shared/kube/index.ts';
import { type NetworkChange, type NetworkKind, type NetworkObjects, NetworkView } from './network/view.ts';

/** The channel's kind names → the network view's maps. Secrets go to both the kubelet and the view. */
const NETWORK_KINDS: Partial<Record<ChannelKind, NetworkKind>> = {
  Node: 'nodes',
  Service: 'services',
  EndpointSlice: 'endpointSlices',
  Ingress: 'ingresses',
  IngressClass: 'ingressClasses',
  NetworkPolicy: 'networkPolicies',
  Secret: 'secrets',
};

const emptyNetwork = (): NetworkObjects => ({
  nodes: new Map(),
  services: new Map(),
  endpointSlices: new Map(),
  ingresses: new Map(),
  ingressClasses: new Map(),
  networkPolicies: new Map(),
  secrets: new Map(),
});

/** What the kubelet acts on in a pod: everything but its status and bookkeeping. */
export function podIntent(p: Pod): string {
  const m = p.metadata;
  return JSON.stringify([m.uid, m.labels, m.annotations, m.deletionTimestamp, m.deletionGracePeriodSeconds, p.spec]);
}

export class DesiredState {
  pods = new Map<string, Stored<Pod>>();
  configMaps = new Map<string, Stored<ConfigMap>>();
  secrets = new Map<string, Stored<Secret>>();
  resourceVersion = '';
  synced = false;
  private listeners = new Set<() => void>();
  onChange(fn: () => void) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  changed() {
    for (const l of this.listeners) l();
  }
  /** Applies an object event for a kind the kubelet holds; false for other kinds. */
  apply(ev: ObjectEvent): boolean {
    const k = `${ev.namespace}/${ev.name}`;
    switch (ev.kind) {
      case 'Pod':
        return put(this.pods, k, ev);
      case 'ConfigMap':
        return put(this.configMaps, k, ev);
      case 'Secret':
        return put(this.secrets, k, ev);
      default:
        return false;
    }
  }
}

function put<T>(m: Map<string, T>, k: string, ev: { type: 'UPSERT'; object: T } | { type: 'DELETE' }): true {
  if (ev.type === 'UPSERT') m.set(k, ev.object);
  else m.delete(k);
  return true;
}

export class ChannelClient {
  readonly state = new DesiredState();
  readonly network = new NetworkView();
  private pendingNetwork: NetworkObjects | null = null;
  private networkChanges: NetworkChange[] = [];
  private flushScheduled = false;
  private client: NodeChannelClient;
  private call: grpc.ClientReadableStream<NodeEventWire> | null = null;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private backoff = 500;
  private pendingSnapshot: DesiredState | null = null;
  connects = 0;
  private node: string;
  private token: string;
  private log: (s: string) => void;
  /** host:port of every server's channel; the next is tried when the one in use fails. */
  private targets: string[];
  private at = 0;
  private ca: string;

  constructor(target: string, ca: string, token: string, node: string, log: (s: string) => void) {
    this.targets = target.split(',');
    this.ca = ca;
    this.client = this.dial();
    this.node = node;
    this.token = token;
    this.log = log;
  }

  start() {
    this.connect();
  }

  private dial(): NodeChannelClient {
    const pkg = loadChannelPackage();
    // The server certificate names "kubernetes" among its SANs; verifying against it avoids
    // using an IP as TLS server name (which Node warns about). A ping unanswered for 5 s ends it.
    return new pkg.NodeChannel(this.targets[this.at], grpc.credentials.createSsl(Buffer.from(this.ca)), {
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.ssl_target_name_override': 'kubernetes',
      'grpc.default_authority': 'kubernetes',
    });
  }

  /** The server in use is down: the next one, resuming from the same resourceVersion. */
  private failOver(why: string) {
    if (this.targets.length < 2) return;
    const from = this.targets[this.at];
    this.at = (this.at + 1) % this.targets.length;
    this.client.close();
    this.client = this.dial();
    this.log(`push channel: ${from} failed (${why}); trying ${this.targets[this.at]}`);
  }

  private connect() {
    if (this.stopped) return;
    this.connects++;
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${this.token}`);
    const call = this.client.Watch({ node_name: this.node, resource_version: this.state.resourceVersion }, md);
    this.call = call;
    const target = this.targets[this.at];
    let live = false;
    call.on('data', (w: NodeEventWire) => {
      if (call !== this.call) return;
      if (!live) this.log(`push channel: connected to ${target}`);
      live = true;
      this.backoff = 500;
      let ev: ChannelEvent | null;
      try {
        ev = decodeEvent(w);
      } catch (e) {
        // A message this agent cannot read: start over from a snapshot rather than hold a wrong state.
        this.state.resourceVersion = '';
        this.retry(call, `${(e as Error).message}; resynchronising`);
        call.cancel();
        return;
      }
      if (ev) this.apply(ev);
    });
    call.on('error', (e: grpc.ServiceError) => {
      if (this.stopped || e.code === grpc.status.CANCELLED || call !== this.call) return;
      if (e.code === grpc.status.OUT_OF_RANGE) this.state.resourceVersion = '';
      // The server is down: the next one, resuming from the same resourceVersion.
      if (e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.DEADLINE_EXCEEDED)
        this.failOver(e.details || e.message);
      this.retry(call, e.details || e.message);
    });
    // grpc-js ends the stream and also reports an error status: only the first of the two reconnects.
    call.on('end', () => this.retry(call));
  }

  /** Dials again after a back-off, once per call that ended. */
  private retry(call: grpc.ClientReadableStream<NodeEventWire>, why?: string) {
    if (this.stopped || call !== this.call) return;
    this.call = null;
    if (why) this.log(`push channel: ${why}; reconnecting in ${this.backoff} ms`);
    this.timer = setTimeout(() => this.connect(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, 10_000);
  }

  private apply(ev: ChannelEvent) {
    switch (ev.type) {
      case 'SNAPSHOT_BEGIN':
        this.pendingSnapshot = new DesiredState();
        this.pendingNetwork = emptyNetwork();
        return;
      case 'SNAPSHOT_END': {
        const snap = this.pendingSnapshot ?? new DesiredState();
        this.pendingSnapshot = null;
        this.state.pods = snap.pods;
        this.state.configMaps = snap.configMaps;
        this.state.secrets = snap.secrets;
        this.state.resourceVersion = ev.resourceVersion;
        this.state.synced = true;
        this.replaceNetwork(this.pendingNetwork ?? emptyNetwork());
        this.pendingNetwork = null;
        this.state.changed();
        return;
      }
      case 'BOOKMARK':
        if (!this.pendingSnapshot) this.state.resourceVersion = ev.resourceVersion;
        return;
      case 'UPSERT':
      case 'DELETE': {
        this.applyNetwork(ev);
        const quiet = !this.pendingSnapshot && this.statusOnly(ev);
        if (!(this.pendingSnapshot ?? this.state).apply(ev)) return;
        if (!this.pendingSnapshot) {
          this.state.synced = true;
          if (!quiet) this.state.changed();
        }
      }
    }
  }

  /** A pod whose status alone changed (mostly the agent's own report) needs no sync. */
  private statusOnly(ev: ObjectEvent): boolean {
    if (ev.kind !== 'Pod' || ev.type !== 'UPSERT') return false;
    const before = this.state.pods.get(`${ev.namespace}/${ev.name}`);
    return !!before && podIntent(before) === podIntent(ev.object);
  }

  /** A network object's change: into the pending snapshot, or into the view with a notification. */
  private applyNetwork(ev: ObjectEvent) {
    const kind = NETWORK_KINDS[ev.kind];
    if (!kind) return;
    const k = ev.namespace ? `${ev.namespace}/${ev.name}` : ev.name;
    // The kind was checked against the map; each map holds the type of its kind.
    const target = (this.pendingNetwork ?? this.network)[kind] as Map<string, unknown>;
    if (ev.type === 'UPSERT') target.set(k, ev.object);
    else target.delete(k);
    if (!this.pendingNetwork) this.queueChanges([{ kind, key: k }]);
  }

  /** A complete snapshot replaces the view; subscribers hear of every object that differs. */
  private replaceNetwork(next: NetworkObjects) {
    const changes: NetworkChange[] = [];
    for (const kind of Object.keys(next) as NetworkKind[]) {
      const cur = this.network[kind] as Map<string, KubeObject>,
        nxt = next[kind] as Map<string, KubeObject>;
      for (const [k, o] of nxt)
        if (cur.get(k)?.metadata.resourceVersion !== o.metadata.resourceVersion) changes.push({ kind, key: k });
      for (const k of cur.keys()) if (!nxt.has(k)) changes.push({ kind, key: k });
      cur.clear();
      for (const [k, o] of nxt) cur.set(k, o);
    }
    this.network.synced = true;
    this.queueChanges(changes);
  }

  /** Changes that arrive together are told in one batch. */
  private queueChanges(changes: NetworkChange[]) {
    this.networkChanges.push(...changes);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const batch = this.networkChanges;
      this.networkChanges = [];
      this.network.notify(batch);
    });
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.call?.cancel();
    this.client.close();
  }
}
