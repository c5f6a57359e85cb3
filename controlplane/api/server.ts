// The Kubernetes-compatible API server: TLS, authentication, discovery, OpenAPI, and the REST
// verbs (get, list, watch, create, update, patch, delete, deletecollection) for every resource.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { EXEC_PROTOCOLS, relayExec } from '../streaming/exec.ts';
import { PORTFORWARD_TUNNEL_PROTOCOL, servePortForward } from '../streaming/portforward.ts';
import { findResource, groupVersion, type Resource } from './resources.ts';
import {
  ApiError,
  badRequest,
  forbidden,
  internal,
  methodNotAllowed,
  notFoundPath,
  serviceUnavailable,
  unauthorized,
} from './status.ts';
import { authorize } from './authz.ts';
import { blockingBudget, budgetStatus } from '../controllers/disruption.ts';
import { secretMatches } from '../server/join.ts';
import { dnsSubdomainErrors } from './validate.ts';
import { serveImages, serveRegistry } from '../images/http.ts';
import type { ImageStore } from '../images/store.ts';
import type { Tunnels } from '../channel/tunnel.ts';
import { aggregatedDiscovery, AGGREGATED_TYPE, apiGroupList, apiResourceList, apiVersions } from './discovery.ts';
import { buildOpenApi, type OpenApiIndex } from './openapi.ts';
import {
  boolParam,
  decodeBody,
  intParam,
  mediaType,
  readBody,
  sendError,
  sendJson,
  wantsTable,
  warningHeaders,
} from './http.ts';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';
import { parseTarget, type RequestTarget } from './path.ts';
import { turn } from './pace.ts';
import { streamList } from './list-stream.ts';
import { Inflight, installGuards, rawStatus, tooManyRequests } from './guard.ts';
import { toTable, type IncludeObject } from './table.ts';
import {
  parseResourceVersion,
  toScale,
  type Ctx,
  type DeleteOpts,
  type ListOpts,
  type PatchType,
  type Registry,
} from './registry.ts';
import type { TokenAuth, User } from './auth.ts';
import type { Metrics } from './metrics.ts';
import type { Obj } from '../shared/kube/object.ts';

/** Bytes a watch may have queued for its client before it is closed as too slow. */
const WATCH_MAX_QUEUED = 16 * 1024 * 1024;
/** Below this, a watch's initial list sends its next page. */
const WATCH_LOW_WATER = 1024 * 1024;

export interface ApiServerOptions {
  registry: Registry;
  auth: TokenAuth;
  metrics: Metrics;
  tls: { cert: string; key: string };
  /** Address clients are told to use (discovery's serverAddressByClientCIDRs). */
  advertise: string;
  isReady: () => boolean;
  /** Imported images, served as an OCI registry under /v2/. */
  images?: ImageStore;
  /** Node joining: the CA to hand out, the join secret, and how to mint a node credential. */
  join?: { caPem: string; secret: string; nodeToken(node: string): string };
}

export const SERVER_VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-skiff',
  gitCommit: 'skiff',
  gitTreeState: 'clean',
  buildDate: '2026-11-22T00:00:00Z',
  goVersion: 'node',
  compiler: 'skiff',
  platform: 'linux/amd64',
};

const PATCH_TYPES: Record<string, PatchType> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
  'application/apply-patch+yaml': 'apply',
  'application/apply-patch+json': 'apply',
};

interface Route {
  res: Resource;
  namespace?: string;
  name?: string;
  sub?: string;
  watchPath: boolean;
}

function parseResourcePath(parts: string[]): Route | { error: ApiError } | null {
  // parts: ['api','v1',...] or ['apis',group,version,...]
  let group = '',
    version: string,
    rest: string[];
  if (parts[0] === 'api') {
    version = parts[1];
    rest = parts.slice(2);
  } else {
    group = parts[1];
    version = parts[2];
    rest = parts.slice(3);
  }
  let watchPath = false;
  if (rest[0] === 'watch') {
    watchPath = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3 && findResource(group, version, rest[2])?.namespaced) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const res = findResource(group, version, rest[0]);
  if (!res) return null;
  if (rest.length > 3) return null;
  const name = rest[1];
  const sub = rest[2];
  if (sub && !res.subresources.includes(sub)) return null;
  if (name !== undefined && name === '') return null;
  return { res, namespace, name, sub, watchPath };
}

/** Impersonate-User, -Group, -Uid and -Extra-*: refused until RBAC can check who may impersonate. */
function impersonating(req: IncomingMessage): boolean {
  return Object.keys(req.headers).some((h) => h.startsWith('impersonate-'));
}
const impersonationRefused = () =>
  forbidden('impersonation (Impersonate-* headers) is not supported: this server does not enforce RBAC yet');

/** The container a pods/log, exec or attach request means: the one named, or the only one. */
function containerOf(pod: Obj, named: string | null): string {
  const containers: Obj[] = pod.spec?.containers ?? [];
  if (!named) {
    if (containers.length !== 1)
      throw badRequest(
        `a container name must be specified for pod ${pod.metadata.name}, choose one of: ` +
          `[${containers.map((c) => c.name).join(' ')}]`,
      );
    return containers[0].name as string;
  }
  const all = [...(pod.spec?.initContainers ?? []), ...containers, ...(pod.spec?.ephemeralContainers ?? [])];
  if (!all.some((c: Obj) => c.name === named))
    throw badRequest(`container ${named} is not valid for pod ${pod.metadata.name}`);
  return named;
}

export class ApiServer {
  readonly server: Server;
  private o: ApiServerOptions;
  private openapi: OpenApiIndex;
  private watches = new Set<() => void>();
  private inflight = new Inflight();
  /** Where agents find the push channel (set once it listens). */
  channelPort = 0;
  /** The cluster's pod and service ranges, which agents need for egress and routing. */
  networkInfo: { clusterCidr?: string; serviceCidr?: string } = {};
  /** The agents' reverse tunnels, for pods/log, exec, attach and portforward. */
  tunnels: Tunnels | null = null;
  private wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered, req) => {
      const want = (req.url ?? '').split('?')[0].endsWith('/portforward')
        ? [PORTFORWARD_TUNNEL_PROTOCOL]
        : EXEC_PROTOCOLS;
      return want.find((p) => offered.has(p)) ?? false;
    },
  });

  constructor(o: ApiServerOptions) {
    this.o = o;
    this.openapi = buildOpenApi();
    // requestTimeout stays off (watches and image uploads are long); headers and bodies have
    // their own bounds (guard.ts, readBody), checked every second.
    const opts = { cert: o.tls.cert, key: o.tls.key, requestTimeout: 0, connectionsCheckingInterval: 1000 };
    this.server = createServer(opts, (req, res) => {
      this.handle(req, res).catch((e) => {
        // The stack goes to the server's log, never to the client.
        const err = e instanceof ApiError ? e : internal('an unexpected error; see the server log');
        if (!(e instanceof ApiError)) console.error('request failed:', req.method, req.url, e);
        if (!res.headersSent) sendError(res, err);
        else res.destroy();
      });
    });
    this.server.keepAliveTimeout = 65_000;
    installGuards(this.server);
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      this.upgrade(req, socket, head).catch((e) => {
        const err = e instanceof ApiError ? e : internal('an unexpected error; see the server log');
        if (!(e instanceof ApiError)) console.error('upgrade failed:', req.url, e);
        if (socket.writable) socket.end(rawStatus(err));
      });
    });
  }

  listen(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** Ends every open watch (clients resume from their last resourceVersion). */
  closeWatches(): void {
    for (const stop of [...this.watches]) stop();
  }

  async close(): Promise<void> {
    this.closeWatches();
    this.server.closeAllConnections?.();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const started = process.hrtime.bigint();
    let target: RequestTarget;
    try {
      target = parseTarget(req.url ?? '/');
    } catch (e) {
      if (e instanceof ApiError) return sendError(res, e);
      throw e;
    }
    const path = '/' + target.segments.join('/');
    let verb = req.method ?? 'GET';
    let resource = '';
    res.on('finish', () => {
      const secs = Number(process.hrtime.bigint() - started) / 1e9;
      this.o.metrics.request(verb, resource, res.statusCode, secs);
    });
    // Unauthenticated health and version endpoints, as Kubernetes allows by default.
    if (/^\/(healthz|livez|readyz)(\/.*)?$/.test(path)) {
      const ok = path.startsWith('/readyz') ? this.o.isReady() : true;
      res.writeHead(ok ? 200 : 500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(ok ? 'ok' : 'not ready');
      return;
    }
    const q0 = target.query;
    const longRunning =
      boolParam(q0, 'watch') ||
      target.segments.includes('watch') ||
      (target.segments.at(-1) === 'log' && boolParam(q0, 'follow'));
    if (!longRunning) {
      if (!this.inflight.enter()) return sendError(res, tooManyRequests());
      res.once('close', () => this.inflight.leave());
    }
    if (path === '/version') return sendJson(res, 200, SERVER_VERSION);
    if (path === '/skiff/v1/info') return sendJson(res, 200, { channelPort: this.channelPort, ...this.networkInfo });
    if (path === '/skiff/v1/cacerts' || path === '/skiff/v1/join') return this.joinEndpoints(req, res, path);
    const user = this.o.auth.authenticate(req.headers.authorization);
    if (!user) {
      if (path.startsWith('/v2')) {
        res.writeHead(401, { 'Content-Type': 'application/json', 'Docker-Distribution-API-Version': 'registry/2.0' });
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return;
      }
      return sendError(res, unauthorized());
    }
    if (impersonating(req)) return sendError(res, impersonationRefused());
    if (path === '/v2' || path.startsWith('/v2/')) {
      resource = 'registry';
      if (!this.o.images) return sendError(res, notFoundPath(path));
      if (!user.groups.includes('system:masters') && !user.groups.includes('system:nodes'))
        return sendError(res, forbidden('registry access needs a node or admin credential'));
      return serveRegistry(this.o.images, req, res, new URL(req.url ?? '/', 'https://x'));
    }
    if (path === '/skiff/v1/images') {
      resource = 'images';
      if (!this.o.images) return sendError(res, notFoundPath(path));
      if (!user.groups.includes('system:masters') && !(req.method === 'GET' && user.groups.includes('system:nodes')))
        return sendError(
          res,
          forbidden(`User "${user.name}" may not ${req.method === 'GET' ? 'list' : 'import'} images`),
        );
      return serveImages(this.o.images, req, res);
    }
    if (path === '/metrics') {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
      res.end(this.o.metrics.render());
      return;
    }
    const accept = String(req.headers.accept ?? '');
    if (path === '/api' || path === '/apis') {
      if (accept.includes('as=APIGroupDiscoveryList') && accept.includes('v=v2'))
        return sendJson(res, 200, aggregatedDiscovery(path === '/api'), { Vary: 'Accept' }, AGGREGATED_TYPE);
      return sendJson(res, 200, path === '/api' ? apiVersions(this.o.advertise) : apiGroupList(), { Vary: 'Accept' });
    }
    if (path === '/openapi/v3') return sendJson(res, 200, this.openapi.root);
    if (path.startsWith('/openapi/v3/')) {
      const doc = this.openapi.docs.get(path.slice('/openapi/v3/'.length));
      if (!doc) return sendError(res, notFoundPath(path));
      res.writeHead(200, {
        'Content-Type': 'application/json',
        'Cache-Control': 'public, immutable',
        Etag: `"${doc.hash}"`,
      });
      res.end(doc.body);
      return;
    }
    const parts = target.segments;
    if ((parts[0] === 'api' && parts.length === 2) || (parts[0] === 'apis' && parts.length === 3)) {
      const list = parts[0] === 'api' ? apiResourceList('', parts[1]) : apiResourceList(parts[1], parts[2]);
      if (!list) return sendError(res, notFoundPath(path));
      return sendJson(res, 200, list);
    }
    if (parts[0] === 'apis' && parts.length === 2) {
      const g = apiGroupList().groups.find((x) => x.name === parts[1]);
      if (!g) return sendError(res, notFoundPath(path));
      return sendJson(res, 200, { kind: 'APIGroup', apiVersion: 'v1', ...g });
    }
    if (!((parts[0] === 'api' && parts.length > 2) || (parts[0] === 'apis' && parts.length > 3)))
      return sendError(res, notFoundPath(path));
    const route = parseResourcePath(parts);
    // A resource path ending in '/' names nothing (it is never the collection).
    if (!route || target.trailingSlash) return sendError(res, notFoundPath(target.raw));
    if ('error' in route) return sendError(res, route.error);
    resource = route.res.plural + (route.sub ? '/' + route.sub : '');
    const q = target.query;
    const watching = route.watchPath || boolParam(q, 'watch');
    if (req.method === 'GET' && watching) verb = 'WATCH';
    else if (req.method === 'GET' && !route.name) verb = 'LIST';
    const about = { name: route.name, group: route.res.group, kind: route.res.plural };
    let warnings: string[] = [];
    try {
      const ctx = this.ctx(req, q, user);
      warnings = ctx.warnings;
      await this.dispatch(req, res, route, q, ctx, accept, watching, user);
    } catch (e) {
      if (e instanceof ApiError) return sendError(res, e.withTarget(about), warnings);
      throw e;
    }
  }

  private ctx(req: IncomingMessage, q: URLSearchParams, user: User): Ctx {
    const dryRun = q.getAll('dryRun');
    if (dryRun.some((d) => d !== 'All'))
      throw badRequest(`dryRun: Unsupported value: "${dryRun.find((d) => d !== 'All')}": supported values: "All"`);
    const fv = q.get('fieldValidation') ?? 'Warn';
    if (!['Strict', 'Warn', 'Ignore'].includes(fv))
      throw badRequest(`fieldValidation: Unsupported value: "${fv}": supported values: "Ignore", "Strict", "Warn"`);
    const ua = String(req.headers['user-agent'] ?? 'unknown');
    const manager = q.get('fieldManager') ?? ua.split('/')[0];
    if (manager.length > 128) throw badRequest('fieldManager: Too long: may not be more than 128 bytes');
    return {
      user: user.name,
      manager,
      dryRun: dryRun.length > 0,
      fieldValidation: fv as Ctx['fieldValidation'],
      warnings: [],
    };
  }

  private listOpts(route: Route, q: URLSearchParams): ListOpts {
    const rv = q.get('resourceVersion');
    if (rv) parseResourceVersion(rv);
    const fields = parseFieldSelector(route.res.kind, q.get('fieldSelector'));
    if (route.name) fields.push({ field: 'metadata.name', op: '=', value: route.name });
    return {
      labels: parseLabelSelector(q.get('labelSelector')),
      fields,
      limit: intParam(q, 'limit'),
      continueToken: q.get('continue') || undefined,
      resourceVersion: q.get('resourceVersion') ?? undefined,
      resourceVersionMatch: q.get('resourceVersionMatch') ?? undefined,
    };
  }

  private respond(
    res: ServerResponse,
    code: number,
    obj: Obj,
    route: Route,
    accept: string,
    ctx: Ctx,
    q: URLSearchParams,
  ) {
    if (wantsTable(accept) && obj.kind !== 'Status' && obj.kind !== 'Scale') {
      const include = (q.get('includeObject') ?? 'Metadata') as IncludeObject;
      return sendJson(
        res,
        code,
        toTable(
          route.res.kind,
          groupVersion(route.res),
          [obj],
          { resourceVersion: obj.metadata?.resourceVersion },
          include,
        ),
        warningHeaders(ctx.warnings),
      );
    }
    sendJson(res, code, obj, warningHeaders(ctx.warnings));
  }

  private authorize(user: User, route: Route, verb: string, name = route.name) {
    const d = authorize(user, {
      verb,
      group: route.res.group,
      resource: route.res.plural,
      subresource: route.sub,
      namespace: route.namespace,
      name,
    });
    if (!d.allowed) {
      const what = `${route.res.plural}${route.res.group ? '.' + route.res.group : ''}${name ? ` "${name}"` : ''}`;
      throw forbidden(
        `${what} is forbidden: User "${user.name}" cannot ${verb} resource ` +
          `"${route.res.plural}${route.sub ? '/' + route.sub : ''}" in API group ` +
          `"${route.res.group}"${route.namespace ? ` in the namespace "${route.namespace}"` : ''}: ${d.reason}`,
      );
    }
  }

  private async joinEndpoints(req: IncomingMessage, res: ServerResponse, path: string) {
    const j = this.o.join;
    if (!j) return sendError(res, notFoundPath(path));
    if (path === '/skiff/v1/cacerts' && req.method === 'GET') {
      res.writeHead(200, { 'Content-Type': 'application/x-pem-file' });
      res.end(j.caPem);
      return;
    }
    if (path === '/skiff/v1/join' && req.method === 'POST') {
      if (!secretMatches(req.headers.authorization, j.secret))
        return sendError(res, new ApiError(401, 'Unauthorized', 'join token rejected'));
      const body = decodeBody(await readBody(req), 'application/json') as { nodeName?: string };
      const name = body?.nodeName ?? '';
      if (dnsSubdomainErrors(name)) return sendError(res, badRequest(`invalid node name "${name}"`));
      return sendJson(res, 200, { nodeName: name, token: j.nodeToken(name) });
    }
    return sendError(res, notFoundPath(path));
  }

  private async dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    route: Route,
    q: URLSearchParams,
    ctx: Ctx,
    accept: string,
    watching: boolean,
    user: User,
  ) {
    const reg = this.o.registry;
    const { res: r, namespace: ns, name, sub } = route;
    const m = req.method ?? 'GET';
    const verb =
      m === 'GET'
        ? watching
          ? 'watch'
          : name
            ? 'get'
            : 'list'
        : m === 'POST'
          ? 'create'
          : m === 'PUT'
            ? 'update'
            : m === 'PATCH'
              ? 'patch'
              : m === 'DELETE'
                ? name
                  ? 'delete'
                  : 'deletecollection'
                : m.toLowerCase();
    if (verb !== 'create') this.authorize(user, route, verb);
    if (
      r.kind === 'Pod' &&
      name &&
      user.groups.includes('system:nodes') &&
      !user.groups.includes('system:masters') &&
      (sub === 'status' || verb === 'delete')
    ) {
      const pod = await reg.get(r, ns, name);
      const node = user.name.slice('system:node:'.length);
      if (pod.spec?.nodeName !== node)
        throw forbidden(`pods "${name}" is forbidden: node "${node}" may only change pods bound to it`);
    }
    if (r.namespaced && name && !ns && req.method !== 'GET') throw notFoundPath(req.url ?? '');
    if (r.namespaced && name && !ns) throw notFoundPath(req.url ?? '');
    const method = req.method ?? 'GET';

    if (sub === 'log' && method === 'GET') return this.podLog(req, res, route, q);
    if (sub === 'exec' || sub === 'attach' || sub === 'portforward') {
      throw badRequest(
        `${sub} needs a connection upgrade ` +
          `(WebSocket ${sub === 'portforward' ? PORTFORWARD_TUNNEL_PROTOCOL : EXEC_PROTOCOLS[0]})`,
      );
    }

    if (method === 'GET') {
      if (watching) return this.watch(req, res, route, q, accept);
      if (!name) {
        if (!wantsTable(accept)) return streamList(res, reg, r, ns, this.listOpts(route, q), {});
        const list = await reg.list(r, ns, this.listOpts(route, q));
        const meta: Obj = { resourceVersion: list.resourceVersion };
        if (list.continue) meta.continue = list.continue;
        if (list.remaining !== undefined) meta.remainingItemCount = list.remaining;
        const include = (q.get('includeObject') ?? 'Metadata') as IncludeObject;
        return sendJson(res, 200, toTable(r.kind, groupVersion(r), list.items, meta, include));
      }
      if (sub === 'scale') return sendJson(res, 200, await reg.getScale(r, ns, name));
      return this.respond(res, 200, await reg.get(r, ns, name), route, accept, ctx, q);
    }

    if (method === 'POST') {
      const body = decodeBody(await readBody(req), mediaType(req));
      this.authorize(user, route, 'create', name ?? (body as Obj)?.metadata?.name);
      if (name && sub === 'binding' && r.kind === 'Pod') {
        await reg.bind(ns!, name, body, r, ctx);
        return sendJson(res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
      }
      if (name && sub === 'eviction' && r.kind === 'Pod') {
        const b = body as Obj;
        // PodDisruptionBudgets: refuse (429, kubectl drain retries) while a budget has nothing left.
        const pod = await reg.get(r, ns, name);
        const pdbRes = findResource('policy', 'v1', 'poddisruptionbudgets')!;
        const pdbs = (await reg.list(pdbRes, ns, { labels: [], fields: [] })).items;
        if (pdbs.length && !pod.metadata.deletionTimestamp) {
          const pods = (await reg.list(r, ns, { labels: [], fields: [] })).items;
          const blocking = blockingBudget(pod, pdbs, pods);
          if (blocking) {
            const st = budgetStatus(blocking, pods);
            throw new ApiError(
              429,
              'TooManyRequests',
              "Cannot evict pod as it would violate the pod's disruption budget.",
              {
                causes: [
                  {
                    reason: 'DisruptionBudget',
                    message:
                      `The disruption budget ${blocking.metadata.name} needs ${st.desiredHealthy} healthy ` +
                      `pods and has ${st.currentHealthy} currently`,
                  },
                ],
              },
            );
          }
        }
        await reg.delete(r, ns, name, { gracePeriodSeconds: b?.deleteOptions?.gracePeriodSeconds }, ctx);
        return sendJson(res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
      }
      if (r.kind === 'Pod' && !name && (body as Obj)?.kind === 'Binding')
        throw badRequest('use the pods/binding subresource');
      if (name) throw methodNotAllowed(`the server does not allow this method on the requested resource`);
      const created = await reg.create(r, ns, body, ctx);
      return this.respond(res, 201, created, route, accept, ctx, q);
    }

    if (method === 'PUT') {
      if (!name) throw methodNotAllowed('the server does not allow this method on the requested resource');
      const body = decodeBody(await readBody(req), mediaType(req));
      if (sub === 'scale')
        return sendJson(res, 200, await reg.updateScale(r, ns, name, body, ctx), warningHeaders(ctx.warnings));
      if (sub === 'finalize' && r.kind === 'Namespace') {
        const { obj } = await reg.update(r, undefined, name, body, ctx);
        return this.respond(res, 200, obj, route, accept, ctx, q);
      }
      const { obj, created } = await reg.update(r, ns, name, body, ctx, sub);
      return this.respond(res, created ? 201 : 200, obj, route, accept, ctx, q);
    }

    if (method === 'PATCH') {
      if (!name) throw methodNotAllowed('the server does not allow this method on the requested resource');
      const type = PATCH_TYPES[mediaType(req)];
      if (!type)
        throw new ApiError(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types ` +
            `include: ${Object.keys(PATCH_TYPES).join(', ')}`,
        );
      if (type === 'apply' && !q.get('fieldManager'))
        throw badRequest(
          'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
        );
      if (type !== 'apply' && q.get('force'))
        throw badRequest(
          'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch',
        );
      const body = decodeBody(
        await readBody(req),
        type === 'apply' ? 'application/apply-patch+yaml' : 'application/json',
      );
      const { obj, created } = await reg.patch(r, ns, name, type, body, ctx, { sub, force: boolParam(q, 'force') });
      if (sub === 'scale') return sendJson(res, 200, toScale(r, obj));
      return this.respond(res, created ? 201 : 200, obj, route, accept, ctx, q);
    }

    if (method === 'DELETE') {
      const buf = await readBody(req);
      let opts: Obj = {};
      if (buf.length) {
        const b = decodeBody(buf, mediaType(req));
        if (typeof b !== 'object' || b === null) throw badRequest('DeleteOptions must be an object');
        opts = b as Obj;
      }
      const grace = intParam(q, 'gracePeriodSeconds') ?? opts.gracePeriodSeconds;
      if (grace !== undefined && (typeof grace !== 'number' || grace < 0))
        throw badRequest('gracePeriodSeconds must be a non-negative integer');
      const propagation =
        q.get('propagationPolicy') ?? opts.propagationPolicy ?? (opts.orphanDependents === true ? 'Orphan' : undefined);
      if (propagation !== undefined && !['Orphan', 'Background', 'Foreground'].includes(propagation))
        throw badRequest(
          `DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "${propagation}": ` +
            `supported values: "Foreground", "Background", "Orphan", "nil"`,
        );
      if ((opts.dryRun ?? []).length) ctx.dryRun = true;
      const del: DeleteOpts = {
        gracePeriodSeconds: grace,
        propagationPolicy: propagation,
        preconditions: opts.preconditions,
      };
      if (!name) {
        const items = await reg.deleteCollection(r, ns, this.listOpts(route, q), del, ctx);
        return sendJson(res, 200, { kind: `${r.kind}List`, apiVersion: groupVersion(r), metadata: {}, items });
      }
      const { obj, gone } = await reg.delete(r, ns, name, del, ctx);
      return this.respond(res, gone ? 200 : 202, obj, route, accept, ctx, q);
    }
    throw methodNotAllowed(`${method} is not supported`);
  }

  /**
   * pods/NAME/exec, attach and portforward: an upgraded connection (WebSocket, or SPDY for
   * port-forward) relayed through the tunnel of the pod's node to its agent, which streams
   * through CRI.
   */
  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
    const target = parseTarget(req.url ?? '/');
    const user = this.o.auth.authenticate(req.headers.authorization);
    if (!user) throw unauthorized();
    if (impersonating(req)) throw impersonationRefused();
    const route = target.trailingSlash ? null : parseResourcePath(target.segments);
    if (
      !route ||
      'error' in route ||
      route.res.kind !== 'Pod' ||
      !route.name ||
      !route.namespace ||
      !['exec', 'attach', 'portforward'].includes(route.sub ?? '')
    )
      throw notFoundPath(target.raw);
    const sub = route.sub as 'exec' | 'attach' | 'portforward';
    this.authorize(user, route, 'create');
    const q = target.query;
    const pod = await this.o.registry.get(route.res, route.namespace, route.name);
    const node = pod.spec?.nodeName;
    if (!node) throw badRequest(`pod ${route.name} does not have a host assigned`);
    const phase = pod.status?.phase;
    // Attach to a finished pod is answered by its node from the container's log (a short
    // `kubectl run --rm -i` often ends before kubectl attaches); exec and port-forward need it running.
    if ((phase === 'Succeeded' || phase === 'Failed') && sub !== 'attach')
      throw badRequest(
        `cannot ${sub === 'portforward' ? 'port-forward to' : sub + ' into'} a container in a completed pod;` +
          ` current phase is ${phase}`,
      );
    const tunnels = this.tunnels;
    if (!tunnels?.connected(node)) throw serviceUnavailable(`no agent connection to node "${node}"`);
    const websocket = String(req.headers.upgrade ?? '').toLowerCase() === 'websocket';
    const uid = pod.metadata.uid;
    if (sub === 'portforward') {
      const open = (port: number) => tunnels.request(node, { type: 'portforward', uid, port });
      const log = (s: string) => console.error(`${route.namespace}/${route.name}: ${s}`);
      if (websocket) {
        this.wss.handleUpgrade(req, socket, head, (ws) => {
          const pf = servePortForward(
            (b) => {
              if (ws.readyState === ws.OPEN) ws.send(b);
            },
            open,
            log,
          );
          ws.on('message', (d: Buffer) => pf.feed(Buffer.from(d)));
          ws.on('close', pf.close);
          ws.on('error', pf.close);
        });
        return;
      }
      if (String(req.headers.upgrade ?? '').toLowerCase() !== 'spdy/3.1')
        throw badRequest('port-forward needs a WebSocket or SPDY/3.1 upgrade');
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ' +
          'SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n',
      );
      const pf = servePortForward(
        (b) => {
          if (!socket.destroyed) socket.write(b);
        },
        open,
        log,
      );
      socket.on('data', (d: Buffer) => pf.feed(d));
      socket.on('close', pf.close);
      if (head.length) pf.feed(head);
      return;
    }
    const container = containerOf(pod, q.get('container'));
    const command = q.getAll('command');
    if (sub === 'exec' && command.length === 0)
      throw badRequest('you must specify at least one command for the container');
    const stdin = boolParam(q, 'stdin'),
      stdout = boolParam(q, 'stdout'),
      stderr = boolParam(q, 'stderr'),
      tty = boolParam(q, 'tty');
    if (!stdin && !stdout && !stderr) throw badRequest('you must specify at least one of stdin, stdout, stderr');
    if (!websocket) throw badRequest(`${sub} needs a WebSocket upgrade (${EXEC_PROTOCOLS.join(', ')})`);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      relayExec(ws, tunnels.request(node, { type: sub, uid, container, command, stdin, stdout, stderr, tty }));
    });
  }

  /** GET pods/NAME/log: asks the agent of the pod's node over its tunnel and streams the answer. */
  private async podLog(req: IncomingMessage, res: ServerResponse, route: Route, q: URLSearchParams) {
    const pod = await this.o.registry.get(route.res, route.namespace, route.name!);
    const node = pod.spec?.nodeName;
    if (!node) throw badRequest(`pod ${route.name} does not have a host assigned`);
    const container = containerOf(pod, q.get('container'));
    if (!this.tunnels?.connected(node)) throw serviceUnavailable(`no agent connection to node "${node}"`);
    const stream = this.tunnels.request(node, {
      type: 'logs',
      namespace: route.namespace,
      name: route.name,
      uid: pod.metadata.uid,
      container,
      follow: boolParam(q, 'follow'),
      previous: boolParam(q, 'previous'),
      timestamps: boolParam(q, 'timestamps'),
      tailLines: intParam(q, 'tailLines'),
      sinceSeconds: intParam(q, 'sinceSeconds'),
      sinceTime: q.get('sinceTime') ?? undefined,
      limitBytes: intParam(q, 'limitBytes'),
    });
    let started = false;
    const begin = () => {
      if (!started) {
        started = true;
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
      }
    };
    stream.onData((b) => {
      begin();
      res.write(b);
    });
    req.on('close', () => stream.cancel());
    try {
      await stream.done;
      begin();
      res.end();
    } catch (e) {
      if (started) {
        res.end();
        return;
      }
      throw badRequest((e as Error).message);
    }
  }

  private async watch(req: IncomingMessage, res: ServerResponse, route: Route, q: URLSearchParams, accept: string) {
    const opts = this.listOpts(route, q);
    const asked = intParam(q, 'timeoutSeconds');
    // Bounded like upstream's default (30-60 min); setTimeout cannot hold more than 2^31 ms anyway.
    const timeout = asked && asked > 0 ? Math.min(asked, 3600) : 1800 + Math.floor(Math.random() * 1800);
    const bookmarks = boolParam(q, 'allowWatchBookmarks');
    const table = wantsTable(accept);
    const include = (q.get('includeObject') ?? 'Metadata') as IncludeObject;
    const sendInitial = q.get('sendInitialEvents');
    let first = true;
    let lastRv = opts.resourceVersion ?? '0';
    let started = false;
    let done = false;
    const start = () => {
      if (started) return;
      started = true;
      res.writeHead(200, {
        'Content-Type': 'application/json',
        'Transfer-Encoding': 'chunked',
        'Cache-Control': 'no-cache, private',
      });
    };
    const write = (type: string, obj: Obj) => {
      if (done) return;
      start();
      if (obj.metadata?.resourceVersion) lastRv = obj.metadata.resourceVersion;
      let out = obj;
      if (table && type !== 'ERROR' && type !== 'BOOKMARK') {
        out = toTable(
          route.res.kind,
          groupVersion(route.res),
          [obj],
          { resourceVersion: obj.metadata?.resourceVersion },
          include,
          first,
        );
        first = false;
      }
      res.write(JSON.stringify({ type, object: out }) + '\n');
      // A watcher that does not keep up is closed (as upstream's watch cache does); it re-lists.
      if (res.writableLength > WATCH_MAX_QUEUED) {
        console.error(
          `watch ${route.res.plural}: closing a slow watcher (${res.writableLength} bytes queued, ` +
            `limit ${WATCH_MAX_QUEUED})`,
        );
        finish(true);
      }
    };
    // Resolves once the client has taken what was queued (or the watch ended) and it is this
    // watch's turn for its next slice of the initial list.
    const drain = async () => {
      if (!done && res.writableLength >= WATCH_LOW_WATER)
        await new Promise<void>((resolve) => {
          const go = () => {
            res.off('drain', go);
            res.off('close', go);
            resolve();
          };
          res.on('drain', go);
          res.on('close', go);
        });
      if (!done) await turn();
    };
    this.o.metrics.openWatches++;
    // `abort`: the client is gone or too slow, so everything is dropped at once (socket included).
    const release = () => {
      done = true;
      this.o.metrics.openWatches--;
      clearTimeout(timer);
      clearInterval(bm);
      w.close();
      this.watches.delete(stop);
    };
    const finish = (abort = false) => {
      if (done) return;
      release();
      if (abort) {
        res.destroy();
        return;
      }
      if (!res.writableEnded) {
        start();
        res.end();
      }
    };
    const stop = () => finish();
    this.watches.add(stop);
    const w = this.o.registry.watch(
      route.res,
      route.namespace,
      {
        labels: opts.labels,
        fields: opts.fields,
        resourceVersion: opts.resourceVersion,
        sendInitialEvents: sendInitial === null ? undefined : sendInitial === 'true',
        drain,
      },
      write,
      (e) => {
        if (done) return;
        write('ERROR', e.toStatus());
        finish();
      },
    );
    // Headers go out at once (the parameters were checked above): a watch whose initial list
    // waits behind other watchers' lists is still an open, answered watch.
    start();
    (res as unknown as { flushHeaders(): void }).flushHeaders();
    const timer = setTimeout(stop, timeout * 1000);
    const bm = setInterval(() => {
      if (bookmarks)
        write('BOOKMARK', {
          kind: route.res.kind,
          apiVersion: groupVersion(route.res),
          metadata: { resourceVersion: lastRv },
        });
    }, 15_000);
    // The client went away: drop the store watch, the queue and the socket now.
    res.on('close', () => finish(true));
    await w.ready;
  }
}
