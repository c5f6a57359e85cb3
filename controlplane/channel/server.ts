// The server end of the push channel (gRPC, TLS, node credential in the `authorization`
// metadata). Per agent: the pods bound to its node and the ConfigMaps and Secrets those pods
// reference — never another node's — plus the cluster's network view (all Nodes, Services,
// EndpointSlices, Ingresses, IngressClasses, NetworkPolicies, and the TLS Secrets Ingresses
// name), as a snapshot then changes, resumable by resourceVersion.
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import { RESOURCES, type Resource } from '../api/resources.ts';
import type { Registry, WatchEventType } from '../api/registry.ts';
import { ApiError } from '../api/status.ts';
import type { TokenAuth } from '../api/auth.ts';
import { ingressTlsRefs, podRefs, TLS_SECRET_TYPE } from './refs.ts';
import { Tunnels } from './tunnel.ts';
import { AgentPresence } from './presence.ts';
import type { Obj } from '../shared/kube/object.ts';

const PROTO = fileURLToPath(new URL('./channel.proto', import.meta.url));
const res = (k: string) => RESOURCES.find((r) => r.kind === k)!;
const PODS = res('Pod'),
  CMS = res('ConfigMap'),
  SECRETS = res('Secret'),
  INGRESSES = res('Ingress');
/** Sent to every agent whole: the state node networking runs on. */
const NETWORK = ['Node', 'Service', 'EndpointSlice', 'Ingress', 'IngressClass', 'NetworkPolicy'].map(res);
const key = (o: Obj) => `${o.metadata.namespace}/${o.metadata.name}`;
type RefKind = 'ConfigMap' | 'Secret';

export function loadChannelPackage(): Obj {
  const def = loader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true });
  return (grpc.loadPackageDefinition(def) as Obj).skiff.v1;
}

interface Stream {
  write(ev: Obj): void;
  closed: boolean;
}

/** One agent's view: what it has been sent, so changes can be computed. */
class NodeView {
  pods = new Map<string, Obj>();
  ingresses = new Map<string, Obj>();
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
  private qualifies(kind: RefKind, o: Obj): boolean {
    const k = key(o);
    if (this.needs[kind].has(k)) return true;
    return kind === 'Secret' && o.type === TLS_SECRET_TYPE && this.needs.ingressTls.has(k);
  }

  emit(type: 'UPSERT' | 'DELETE', kind: string, o: Obj) {
    if (this.quiet) return;
    this.out.write({
      type,
      kind,
      namespace: o.metadata.namespace ?? '',
      name: o.metadata.name,
      resource_version: o.metadata.resourceVersion ?? '',
      object_json: type === 'UPSERT' ? JSON.stringify(o) : '',
    });
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
          if (!o || !this.qualifies(kind, o)) continue;
          this.sent[kind].add(k);
          this.emit('UPSERT', kind, o);
        } catch (e) {
          if (!(e instanceof ApiError && e.code === 404)) throw e;
        }
      }
      for (const k of [...this.sent[kind]]) {
        if (want.has(k)) continue;
        this.sent[kind].delete(k);
        const [namespace, name] = k.split('/');
        this.emit('DELETE', kind, { metadata: { namespace, name } });
      }
    }
  }

  /** A ConfigMap or Secret changed in the store: send it if this node may hold it, else retract it. */
  onRef(kind: RefKind, type: WatchEventType, o: Obj) {
    const k = key(o);
    if (type !== 'DELETED' && this.qualifies(kind, o)) {
      this.sent[kind].add(k);
      this.emit('UPSERT', kind, o);
    } else if (this.sent[kind].delete(k)) this.emit('DELETE', kind, o);
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
      Watch: (call: grpc.ServerWritableStream<Obj, Obj>) => void this.watch(call),
      Tunnel: (call: grpc.ServerDuplexStream<Obj, Obj>) => this.tunnels.handle(call),
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

  private async watch(call: grpc.ServerWritableStream<Obj, Obj>) {
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
        if (!out.closed) call.write(ev);
      },
    };
    const view = new NodeView(this.reg, out);
    const handles: { close(): void }[] = [];
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
      for (const p of pods.items) {
        view.pods.set(key(p), p);
        view.emit('UPSERT', 'Pod', p);
      }
      for (const r of NETWORK) {
        const list = await this.reg.list(r, undefined, { ...all, ...at(from) });
        for (const o of list.items) {
          if (r === INGRESSES) view.ingresses.set(key(o), o);
          view.emit('UPSERT', r.kind, o);
        }
      }
      view.recompute();
      await view.syncRefs(from);
      view.quiet = false;
      if (!resume) out.write({ type: 'SNAPSHOT_END', resource_version: from });
      let chain = Promise.resolve();
      const serial = (fn: () => Promise<void> | void) => {
        chain = chain.then(fn).catch(fail);
      };
      const watch = (r: Resource, fields: typeof ctxFields, fn: (t: WatchEventType, o: Obj) => unknown) =>
        handles.push(
          this.reg.watch(
            r,
            undefined,
            { labels: [], fields, resourceVersion: from },
            (t, o) => serial(async () => void (await fn(t, o))),
            fail,
          ),
        );
      watch(PODS, ctxFields, async (type, o) => {
        if (type === 'DELETED') view.pods.delete(key(o));
        else view.pods.set(key(o), o);
        view.emit(type === 'DELETED' ? 'DELETE' : 'UPSERT', 'Pod', o);
        view.recompute();
        await view.syncRefs();
      });
      for (const r of NETWORK)
        watch(r, [], async (type, o) => {
          view.emit(type === 'DELETED' ? 'DELETE' : 'UPSERT', r.kind, o);
          if (r !== INGRESSES) return;
          if (type === 'DELETED') view.ingresses.delete(key(o));
          else view.ingresses.set(key(o), o);
          view.recompute();
          await view.syncRefs();
        });
      watch(CMS, [], (type, o) => view.onRef('ConfigMap', type, o));
      watch(SECRETS, [], (type, o) => view.onRef('Secret', type, o));
      await Promise.all(handles.map((h) => (h as unknown as { ready: Promise<void> }).ready));
      // A bookmark names a revision read one period earlier, so every event up to it has been sent.
      let seen = '';
      bm = setInterval(
        () =>
          serial(async () => {
            if (seen) out.write({ type: 'BOOKMARK', resource_version: seen });
            seen = String(await this.reg.store.currentRevision());
          }),
        5_000,
      );
    } catch (e) {
      fail(e);
    }
  }
}
