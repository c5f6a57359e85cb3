// The server end of the push channel (gRPC, TLS, node credential in the `authorization`
// metadata). Per agent: the pods bound to its node and the ConfigMaps and Secrets those pods
// reference — never another node's — as a snapshot then changes, resumable by resourceVersion.
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import { RESOURCES } from '../api/resources.ts';
import type { Registry, WatchEventType } from '../api/registry.ts';
import { ApiError } from '../api/status.ts';
import type { TokenAuth } from '../api/auth.ts';
import { podRefs } from './refs.ts';
import { Tunnels } from './tunnel.ts';
import type { Obj } from '../shared/kube/object.ts';

const PROTO = fileURLToPath(new URL('./channel.proto', import.meta.url));
const res = (k: string) => RESOURCES.find((r) => r.kind === k)!;
const PODS = res('Pod'),
  CMS = res('ConfigMap'),
  SECRETS = res('Secret');
const key = (o: Obj) => `${o.metadata.namespace}/${o.metadata.name}`;

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
  sent = { ConfigMap: new Set<string>(), Secret: new Set<string>() };
  private reg: Registry;
  private out: Stream;
  constructor(reg: Registry, out: Stream) {
    this.reg = reg;
    this.out = out;
  }

  needed(kind: 'ConfigMap' | 'Secret'): Set<string> {
    const all = new Set<string>();
    for (const p of this.pods.values())
      for (const k of kind === 'ConfigMap' ? podRefs(p).configMaps : podRefs(p).secrets) all.add(k);
    return all;
  }

  emit(type: 'UPSERT' | 'DELETE', kind: string, o: Obj) {
    this.out.write({
      type,
      kind,
      namespace: o.metadata.namespace ?? '',
      name: o.metadata.name,
      resource_version: o.metadata.resourceVersion ?? '',
      object_json: type === 'UPSERT' ? JSON.stringify(o) : '',
    });
  }

  /** Sends referenced objects newly needed, and deletes for those no longer needed. */
  async syncRefs(rv?: string) {
    for (const kind of ['ConfigMap', 'Secret'] as const) {
      const need = this.needed(kind);
      for (const k of need) {
        if (this.sent[kind].has(k)) continue;
        const [ns, name] = k.split('/');
        try {
          const o = rv
            ? (
                await this.reg.list(kind === 'ConfigMap' ? CMS : SECRETS, ns, {
                  labels: [],
                  fields: [{ field: 'metadata.name', op: '=', value: name }],
                  resourceVersion: rv,
                  resourceVersionMatch: 'Exact',
                })
              ).items[0]
            : await this.reg.get(kind === 'ConfigMap' ? CMS : SECRETS, ns, name);
          if (!o) continue;
          this.sent[kind].add(k);
          this.emit('UPSERT', kind, o);
        } catch (e) {
          if (!(e instanceof ApiError && e.code === 404)) throw e;
        }
      }
      for (const k of [...this.sent[kind]]) {
        if (need.has(k)) continue;
        this.sent[kind].delete(k);
        const [namespace, name] = k.split('/');
        this.emit('DELETE', kind, { metadata: { namespace, name } });
      }
    }
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
      let from = String(call.request.resource_version ?? '');
      const compacted = await this.reg.store.compactedRevision();
      if (from && Number(from) >= compacted && Number(from) <= (await this.reg.store.currentRevision())) {
        // Resume: rebuild what the agent already has as of `from`, silently, then send changes.
        const pods = await this.reg.list(PODS, undefined, {
          labels: [],
          fields: ctxFields,
          resourceVersion: from,
          resourceVersionMatch: 'Exact',
        });
        for (const p of pods.items) view.pods.set(key(p), p);
        for (const kind of ['ConfigMap', 'Secret'] as const) for (const k of view.needed(kind)) view.sent[kind].add(k);
      } else {
        out.write({ type: 'SNAPSHOT_BEGIN' });
        const pods = await this.reg.list(PODS, undefined, { labels: [], fields: ctxFields });
        from = pods.resourceVersion;
        for (const p of pods.items) {
          view.pods.set(key(p), p);
          view.emit('UPSERT', 'Pod', p);
        }
        await view.syncRefs(from);
        out.write({ type: 'SNAPSHOT_END', resource_version: from });
      }
      let chain = Promise.resolve();
      const serial = (fn: () => Promise<void>) => {
        chain = chain.then(fn).catch(fail);
      };
      handles.push(
        this.reg.watch(
          PODS,
          undefined,
          { labels: [], fields: ctxFields, resourceVersion: from },
          (type: WatchEventType, o: Obj) =>
            serial(async () => {
              if (type === 'DELETED') {
                view.pods.delete(key(o));
                view.emit('DELETE', 'Pod', o);
              } else {
                view.pods.set(key(o), o);
                view.emit('UPSERT', 'Pod', o);
              }
              await view.syncRefs();
            }),
          fail,
        ),
      );
      for (const [r, kind] of [
        [CMS, 'ConfigMap'],
        [SECRETS, 'Secret'],
      ] as const) {
        handles.push(
          this.reg.watch(
            r,
            undefined,
            { labels: [], fields: [], resourceVersion: from },
            (type: WatchEventType, o: Obj) =>
              serial(async () => {
                if (!view.sent[kind].has(key(o))) return;
                if (type === 'DELETED') {
                  view.sent[kind].delete(key(o));
                  view.emit('DELETE', kind, o);
                } else view.emit('UPSERT', kind, o);
              }),
            fail,
          ),
        );
      }
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
