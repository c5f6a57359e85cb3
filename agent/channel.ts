// The agent end of the push channel: keeps the node's desired state (its pods and the
// ConfigMaps and Secrets they use) from the server's stream, reconnecting with back-off and
// resuming from the last resourceVersion it applied (a full snapshot when that is too old).
import * as grpc from '@grpc/grpc-js';
import { loadChannelPackage } from '../controlplane/channel/server.ts';
import type { Obj } from '../controlplane/shared/kube/object.ts';

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
  private client: grpc.Client;
  private call: grpc.ClientReadableStream<Obj> | null = null;
  private stopped = false;
  private backoff = 500;
  private pendingSnapshot: DesiredState | null = null;
  connects = 0;
  private node: string;
  private token: string;
  private log: (s: string) => void;

  constructor(target: string, ca: string, token: string, node: string, log: (s: string) => void) {
    const pkg = loadChannelPackage();
    // The server certificate names "kubernetes" among its SANs; verifying against it avoids
    // using an IP as TLS server name (which Node warns about).
    this.client = new pkg.NodeChannel(target, grpc.credentials.createSsl(Buffer.from(ca)), {
      'grpc.keepalive_time_ms': 30_000,
      'grpc.ssl_target_name_override': 'kubernetes',
      'grpc.default_authority': 'kubernetes',
    });
    this.node = node;
    this.token = token;
    this.log = log;
  }

  start() {
    this.connect();
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
    call.on('data', (ev: Obj) => {
      this.backoff = 500;
      this.apply(ev);
    });
    call.on('error', (e: grpc.ServiceError) => {
      if (this.stopped || e.code === grpc.status.CANCELLED) return;
      if (e.code === grpc.status.OUT_OF_RANGE) this.state.resourceVersion = '';
      this.log(`push channel: ${e.details || e.message}; reconnecting in ${this.backoff} ms`);
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10_000);
    });
    call.on('end', () => {
      if (!this.stopped) setTimeout(() => this.connect(), this.backoff);
    });
  }

  private apply(ev: Obj) {
    switch (ev.type) {
      case 'SNAPSHOT_BEGIN':
        this.pendingSnapshot = new DesiredState();
        return;
      case 'SNAPSHOT_END': {
        const snap = this.pendingSnapshot ?? new DesiredState();
        this.pendingSnapshot = null;
        this.state.pods = snap.pods;
        this.state.configMaps = snap.configMaps;
        this.state.secrets = snap.secrets;
        this.state.resourceVersion = ev.resource_version;
        this.state.synced = true;
        this.state.changed();
        return;
      }
      case 'BOOKMARK':
        if (!this.pendingSnapshot) this.state.resourceVersion = ev.resource_version;
        return;
      case 'UPSERT':
      case 'DELETE': {
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

  stop() {
    this.stopped = true;
    this.call?.cancel();
    this.client.close();
  }
}
