// The agent end of the push channel: keeps the node's desired state (its pods and the
// ConfigMaps and Secrets they use) and the cluster's network view from the server's stream,
// reconnecting with back-off and resuming from the last resourceVersion it applied (a full
// snapshot when that is too old).
import * as grpc from '@grpc/grpc-js';
import { loadChannelPackage } from '../controlplane/channel/server.ts';
import type { Obj } from '../controlplane/shared/kube/object.ts';
import { type NetworkChange, type NetworkKind, type NetworkObjects, NetworkView } from './network/view.ts';

/** The channel's kind names → the network view's maps. Secrets go to both the kubelet and the view. */
const NETWORK_KINDS: Record<string, NetworkKind> = {
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
export function podIntent(p: Obj): string {
  const m = p.metadata ?? {};
  return JSON.stringify([m.uid, m.labels, m.annotations, m.deletionTimestamp, m.deletionGracePeriodSeconds, p.spec]);
}

export class DesiredState {
  pods = new Map<string, Obj>();
  configMaps = new Map<string, Obj>();
  secrets = new Map<string, Obj>();
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
  map(kind: string): Map<string, Obj> | null {
    return kind === 'Pod'
      ? this.pods
      : kind === 'ConfigMap'
        ? this.configMaps
        : kind === 'Secret'
          ? this.secrets
          : null;
  }
}

export class ChannelClient {
  readonly state = new DesiredState();
  readonly network = new NetworkView();
  private pendingNetwork: NetworkObjects | null = null;
  private networkChanges: NetworkChange[] = [];
  private flushScheduled = false;
  private client: grpc.Client;
  private call: grpc.ClientReadableStream<Obj> | null = null;
  private stopped = false;
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

  private dial(): grpc.Client {
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
    const call = (
      this.client as unknown as { Watch(req: Obj, md: grpc.Metadata): grpc.ClientReadableStream<Obj> }
    ).Watch({ node_name: this.node, resource_version: this.state.resourceVersion }, md);
    this.call = call;
    const target = this.targets[this.at];
    let live = false;
    call.on('data', (ev: Obj) => {
      if (call !== this.call) return;
      if (!live) this.log(`push channel: connected to ${target}`);
      live = true;
      this.backoff = 500;
      this.apply(ev);
    });
    // A failed call also ends: one reconnect per call, or a second stream would stay open.
    let retried = false;
    call.on('error', (e: grpc.ServiceError) => {
      if (this.stopped || e.code === grpc.status.CANCELLED) return;
      retried = true;
      if (e.code === grpc.status.OUT_OF_RANGE) this.state.resourceVersion = '';
      if (e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.DEADLINE_EXCEEDED)
        this.failOver(e.details || e.message);
      this.log(`push channel: ${e.details || e.message}; reconnecting in ${this.backoff} ms`);
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10_000);
    });
    call.on('end', () => {
      if (!this.stopped && !retried) setTimeout(() => this.connect(), this.backoff);
    });
  }

  private apply(ev: Obj) {
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
        this.state.resourceVersion = ev.resource_version;
        this.state.synced = true;
        this.replaceNetwork(this.pendingNetwork ?? emptyNetwork());
        this.pendingNetwork = null;
        this.state.changed();
        return;
      }
      case 'BOOKMARK':
        if (!this.pendingSnapshot) this.state.resourceVersion = ev.resource_version;
        return;
      case 'UPSERT':
      case 'DELETE': {
        this.applyNetwork(ev);
        const target = (this.pendingSnapshot ?? this.state).map(ev.kind);
        if (!target) return;
        const k = `${ev.namespace}/${ev.name}`;
        let quiet = false;
        if (ev.type === 'UPSERT') {
          const obj = JSON.parse(ev.object_json);
          // A pod whose status alone changed (mostly the agent's own report) needs no sync.
          const before = target.get(k);
          quiet = ev.kind === 'Pod' && !!before && podIntent(before) === podIntent(obj);
          target.set(k, obj);
        } else target.delete(k);
        if (!this.pendingSnapshot) {
          this.state.synced = true;
          if (!quiet) this.state.changed();
        }
      }
    }
  }

  /** A network object's change: into the pending snapshot, or into the view with a notification. */
  private applyNetwork(ev: Obj) {
    const kind = NETWORK_KINDS[ev.kind];
    if (!kind) return;
    const k = ev.namespace ? `${ev.namespace}/${ev.name}` : ev.name;
    const target = (this.pendingNetwork ?? this.network)[kind] as Map<string, unknown>;
    if (ev.type === 'UPSERT') target.set(k, JSON.parse(ev.object_json));
    else target.delete(k);
    if (!this.pendingNetwork) this.queueChanges([{ kind, key: k }]);
  }

  /** A complete snapshot replaces the view; subscribers hear of every object that differs. */
  private replaceNetwork(next: NetworkObjects) {
    const changes: NetworkChange[] = [];
    for (const kind of Object.keys(next) as NetworkKind[]) {
      const cur = this.network[kind] as Map<string, Obj>,
        nxt = next[kind] as Map<string, Obj>;
      for (const [k, o] of nxt)
        if (cur.get(k)?.metadata?.resourceVersion !== o.metadata?.resourceVersion) changes.push({ kind, key: k });
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
    this.call?.cancel();
    this.client.close();
  }
}
