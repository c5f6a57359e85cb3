// The server end of the push channel (gRPC, TLS, node credential in the `authorization`
// metadata). Per agent: the pods bound to its node and the ConfigMaps and Secrets those pods
// reference — never another node's — plus the cluster's network view (all Nodes, Services,
// EndpointSlices, Ingresses, IngressClasses, NetworkPolicies, and the TLS Secrets Ingresses
// name), as a snapshot then changes, resumable by resourceVersion.
import * as grpc from '@grpc/grpc-js';
import { RESOURCES } from '../api/resources.ts';
import type { Registry, WatchEventType } from '../api/registry.ts';
import { ApiError } from '../api/status.ts';
import type { TokenAuth } from '../api/auth.ts';
import { ingressTlsRefs, podRefs, TLS_SECRET_TYPE } from './refs.ts';
import { Tunnels } from './tunnel.ts';
import {
  type ChannelEvent,
  type ChannelKind,
  type ChannelObjects,
  encodeEvent,
  loadChannelPackage,
  type NodeEventWire,
  type ObjectEvent,
  type TunnelFrame,
  type WatchRequest,
} from './messages.ts';
import type { Ingress, KubeObject, ObjectMeta, Pod, Stored } from '../shared/kube/index.ts';
import { AgentPresence } from './presence.ts';

const res = (k: ChannelKind) => RESOURCES.find((r) => r.kind === k)!;
const PODS = res('Pod'),
  CMS = res('ConfigMap'),
  SECRETS = res('Secret');
/** Sent to every agent whole: the state node networking runs on. */
const NETWORK_KINDS = ['Node', 'Service', 'EndpointSlice', 'Ingress', 'IngressClass', 'NetworkPolicy'] as const;
const key = (o: { metadata: ObjectMeta }) => `${o.metadata.namespace}/${o.metadata.name}`;
type RefKind = 'ConfigMap' | 'Secret';

/**
 * The registry hands out untyped JSON; what it reads for a resource is that resource's kind, checked
 * by the API server on the way in. This names that kind for the channel.
 */
// biome-ignore lint/suspicious/noExplicitAny: the registry's untyped object, narrowed here to the kind it was read as
const typed = <K extends ChannelKind>(_kind: K, o: Record<string, any>) => o as Stored<ChannelObjects[K]>;

interface Stream {
  write(ev: ChannelEvent): void;
  closed: boolean;
}

/** One agent's view: what it has been sent, so changes can be computed. */
class NodeView {
  pods = new Map<string, Stored<Pod>>();
  ingresses = new Map<string, Stored<Ingress>>();
  sent = { ConfigMap: new Set<string>(), Secret: new Set<string>() };
  /** While rebuilding the state of a resumed agent nothing is written. */
  quiet = false;
  private needs = { ConfigMap: new Set<string>(), Secret: new Set<string>(), ingressTls: new Set<string>() };
  private reg: Registry;
  private out: Stream;
  constructor(reg: Registry, out: Stream) {
    this.reg = reg;
    this.out = out;
  }

  /** Recomputes what the pods and Ingresses reference (after either changed). */
  recompute() {
    const cms = new Set<string>(),
      secrets = new Set<string>(),
      tls = new Set<string>();
    for (const p of this.pods.values()) {
      const r = podRefs(p);
      for (const k of r.configMaps) cms.add(k);
      for (const k of r.secrets) secrets.add(k);
    }
    for (const i of this.ingresses.values()) for (const k of ingressTlsRefs(i)) tls.add(k);
    this.needs = { ConfigMap: cms, Secret: secrets, ingressTls: tls };
  }

  private candidates(kind: RefKind): Set<string> {
    return kind === 'ConfigMap' ? this.needs.ConfigMap : new Set([...this.needs.Secret, ...this.needs.ingressTls]);
  }

  /** May this node hold the object? Its pods use it, or an Ingress names it and it is a TLS Secret. */
  private qualifies(kind: RefKind, o: Stored<ChannelObjects[RefKind]>): boolean {
    const k = key(o);
    if (this.needs[kind].has(k)) return true;
    return kind === 'Secret' && 'type' in o && o.type === TLS_SECRET_TYPE && this.needs.ingressTls.has(k);
  }

  /** Sends an object of a kind whole. */
  upsert<K extends ChannelKind>(kind: K, o: Stored<ChannelObjects[K]>) {
    // For a generic kind the compiler cannot pick the union member; `kind` and `o` match by signature.
    this.send({ type: 'UPSERT', kind, ...head(o), object: o } as ObjectEvent);
  }

  /** Tells the agent an object is gone (or no longer its to hold). */
  remove(kind: ChannelKind, o: KubeObject) {
    this.send({ type: 'DELETE', kind, ...head(o) });
  }

  private send(ev: ChannelEvent) {
    if (!this.quiet) this.out.write(ev);
  }

  /** Sends referenced objects newly needed (as of `rv` when given), and deletes for those no longer needed. */
  async syncRefs(rv?: string) {
    for (const kind of ['ConfigMap', 'Secret'] as const) {
      const want = this.candidates(kind);
      for (const k of want) {
        if (this.sent[kind].has(k)) continue;
        const [ns, name] = k.split('/');
        const r = kind === 'ConfigMap' ? CMS : SECRETS;
        try {
          const o = rv
            ? (
                await this.reg.list(r, ns, {
                  labels: [],
                  fields: [{ field: 'metadata.name', op: '=', value: name }],
                  resourceVersion: rv,
                  resourceVersionMatch: 'Exact',
                })
              ).items[0]
            : await this.reg.get(r, ns, name);
          if (!o) continue;
          const obj = typed(kind, o);
          if (!this.qualifies(kind, obj)) continue;
          this.sent[kind].add(k);
          this.upsert(kind, obj);
        } catch (e) {
          if (!(e instanceof ApiError && e.code === 404)) throw e;
        }
      }
      for (const k of [...this.sent[kind]]) {
        if (want.has(k)) continue;
        this.sent[kind].delete(k);
        const [namespace, name] = k.split('/');
        this.remove(kind, { metadata: { namespace, name } });
      }
    }
  }

  /** A ConfigMap or Secret changed in the store: send it if this node may hold it, else retract it. */
  onRef(kind: RefKind, type: WatchEventType, o: Stored<ChannelObjects[RefKind]>) {
    const k = key(o);
    if (type !== 'DELETED' && this.qualifies(kind, o)) {
      this.sent[kind].add(k);
      this.upsert(kind, o);
    } else if (this.sent[kind].delete(k)) this.remove(kind, o);
  }
}

export class ChannelServer {
  readonly server = new grpc.Server();
  private streams = new Set<() => void>();
  port = 0;
  readonly tunnels: Tunnels;
  private reg: Registry;
  private auth: TokenAuth;
  private tls: { cert: string; key: string };
  constructor(reg: Registry, auth: TokenAuth, tls: { cert: string; key: string }) {
    this.reg = reg;
    this.auth = auth;
    this.tls = tls;
    const pkg = loadChannelPackage();
    this.tunnels = new Tunnels(auth);
    const presence = new AgentPresence(reg);
    this.tunnels.onPresence = (node, up) => presence.set(node, up);
    this.server.addService(pkg.NodeChannel.service, {
      Watch: (call: grpc.ServerWritableStream<WatchRequest, NodeEventWire>) => void this.watch(call),
      Tunnel: (call: grpc.ServerDuplexStream<TunnelFrame, TunnelFrame>) => this.tunnels.handle(call),
    });
  }

  async listen(host: string, port: number): Promise<number> {
    const creds = grpc.ServerCredentials.createSsl(
      null,
      [{ cert_chain: Buffer.from(this.tls.cert), private_key: Buffer.from(this.tls.key) }],
      false,
    );
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(`${host}:${port}`, creds, (e, p) => (e ? reject(e) : resolve(p))),
    );
    return this.port;
  }

  async close() {
    for (const s of [...this.streams]) s();
    this.tunnels.close();
    await new Promise<void>((r) => this.server.tryShutdown(() => r()));
  }

  private async watch(call: grpc.ServerWritableStream<WatchRequest, NodeEventWire>) {
    const node = String(call.request.node_name ?? '');
    const user = this.auth.authenticate(String(call.metadata.get('authorization')[0] ?? ''));
    const allowed = user && (user.groups.includes('system:masters') || user.name === `system:node:${node}`);
    const deny = (code: grpc.status, details: string) => {
      call.emit('error', { code, details });
    };
    if (!user || !node) return deny(grpc.status.UNAUTHENTICATED, 'a node credential is required');
    if (!allowed) return deny(grpc.status.PERMISSION_DENIED, `${user.name} may not watch node ${node}`);
    const out: Stream = {
      closed: false,
      write: (ev) => {
        if (!out.closed) call.write(encodeEvent(ev));
      },
    };
    const view = new NodeView(this.reg, out);
    const handles: { close(): void; ready: Promise<void> }[] = [];
    const stop = () => {
      out.closed = true;
      for (const h of handles) h.close();
      this.streams.delete(stop);
      clearInterval(bm);
    };
    this.streams.add(stop);
    call.on('cancelled', stop);
    call.on('close', stop);
    let bm: NodeJS.Timeout | undefined;
    const fail = (e: unknown) => {
      if (out.closed) return;
      const gone = e instanceof ApiError && e.code === 410;
      stop();
      call.emit('error', {
        code: gone ? grpc.status.OUT_OF_RANGE : grpc.status.INTERNAL,
        details: (e as Error).message,
      });
    };
    try {
      const ctxFields = [{ field: 'spec.nodeName', op: '=' as const, value: node }];
      const all = { labels: [], fields: [] };
      let from = String(call.request.resource_version ?? '');
      const compacted = await this.reg.store.compactedRevision();
      const resume = from && Number(from) >= compacted && Number(from) <= (await this.reg.store.currentRevision());
      if (!resume) {
        out.write({ type: 'SNAPSHOT_BEGIN' });
        from = '';
      }
      // The snapshot (or, on resume, silently what the agent already has) as of one revision.
      view.quiet = !!resume;
      const at = (rv: string) => (rv ? { resourceVersion: rv, resourceVersionMatch: 'Exact' } : {});
      const pods = await this.reg.list(PODS, undefined, { labels: [], fields: ctxFields, ...at(from) });
      from ||= pods.resourceVersion;
      for (const item of pods.items) {
        const p = typed('Pod', item);
        view.pods.set(key(p), p);
        view.upsert('Pod', p);
      }
      for (const kind of NETWORK_KINDS) {
        const list = await this.reg.list(res(kind), undefined, { ...all, ...at(from) });
        for (const item of list.items) {
          const o = typed(kind, item);
          if (kind === 'Ingress') view.ingresses.set(key(o), typed('Ingress', o));
          view.upsert(kind, o);
        }
      }
      view.recompute();
      await view.syncRefs(from);
      view.quiet = false;
      if (!resume) out.write({ type: 'SNAPSHOT_END', resourceVersion: from });
      // A resumed agent hears at once that the stream is live (it may have come from another server).
      else out.write({ type: 'BOOKMARK', resourceVersion: from });
      let chain = Promise.resolve();
      const serial = (fn: () => Promise<void> | void) => {
        chain = chain.then(fn).catch(fail);
      };
      const watch = <K extends ChannelKind>(
        kind: K,
        fields: typeof ctxFields,
        fn: (t: WatchEventType, o: Stored<ChannelObjects[K]>) => unknown,
      ) =>
        handles.push(
          this.reg.watch(
            res(kind),
            undefined,
            { labels: [], fields, resourceVersion: from },
            (t, o) => serial(async () => void (await fn(t, typed(kind, o)))),
            fail,
          ),
        );
      const forward = <K extends ChannelKind>(kind: K, type: WatchEventType, o: Stored<ChannelObjects[K]>) => {
        if (type === 'DELETED') view.remove(kind, o);
        else view.upsert(kind, o);
      };
      watch('Pod', ctxFields, async (type, o) => {
        if (type === 'DELETED') view.pods.delete(key(o));
        else view.pods.set(key(o), o);
        forward('Pod', type, o);
        view.recompute();
        await view.syncRefs();
      });
      for (const kind of NETWORK_KINDS) if (kind !== 'Ingress') watch(kind, [], (type, o) => forward(kind, type, o));
      watch('Ingress', [], async (type, o) => {
        forward('Ingress', type, o);
        if (type === 'DELETED') view.ingresses.delete(key(o));
        else view.ingresses.set(key(o), o);
        view.recompute();
        await view.syncRefs();
      });
      watch('ConfigMap', [], (type, o) => view.onRef('ConfigMap', type, o));
      watch('Secret', [], (type, o) => view.onRef('Secret', type, o));
      await Promise.all(handles.map((h) => h.ready));
      // A bookmark names a revision read one period earlier, so every event up to it has been sent.
      let seen = '';
      bm = setInterval(
        () =>
          serial(async () => {
            if (seen) out.write({ type: 'BOOKMARK', resourceVersion: seen });
            seen = String(await this.reg.store.currentRevision());
          }),
        5_000,
      );
    } catch (e) {
      fail(e);
    }
  }
}

/** The names an object event carries beside the object. */
function head(o: KubeObject) {
  return {
    namespace: o.metadata.namespace ?? '',
    name: o.metadata.name ?? '',
    resourceVersion: o.metadata.resourceVersion ?? '',
  };
}
