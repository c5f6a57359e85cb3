// The Kubernetes-compatible API server: TLS, authentication, discovery, OpenAPI, and routing of
// resource requests to the verb handlers in handlers/ (get, list, watch, create, update, patch,
// delete, deletecollection, connect), after authorization.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { findResource } from './resources.ts';
import { ApiError, badRequest, forbidden, internal, notFoundPath, unauthorized } from './status.ts';
import { secretMatches } from '../server/join.ts';
import { dnsSubdomainErrors } from './validate.ts';
import { serveImages, serveRegistry } from '../images/http.ts';
import type { ImageStore } from '../images/store.ts';
import type { Tunnels } from '../channel/tunnel.ts';
import { aggregatedDiscovery, AGGREGATED_TYPE, apiGroupList, apiResourceList, apiVersions } from './discovery.ts';
import { buildOpenApi, type OpenApiIndex } from './openapi.ts';
import { OPENAPI_V2_PROTOBUF, openApiV2Json, openApiV2Protobuf } from './openapi-v2.ts';
import { boolParam, decodeBody, readBody, sendError, sendJson } from './http.ts';
import { parseTarget, type RequestTarget } from './path.ts';
import { Inflight, installGuards, rawStatus, tooManyRequests } from './guard.ts';
import type { Ctx, Registry } from './registry.ts';
import type { TokenAuth, User } from './auth.ts';
import type { Metrics } from './metrics.ts';
import type { Pod } from '../shared/kube/index.ts';
import { authorizeRoute, type Route } from './handlers/call.ts';
import { CONNECT_SUBRESOURCES, connect, connectSockets, type ConnectSub } from './handlers/connect.ts';
import { serveVerb, verbOf } from './handlers/index.ts';

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
  private wss = connectSockets();

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
    if (path === '/openapi/v2') {
      const pb = accept.includes(OPENAPI_V2_PROTOBUF);
      // The protobuf media type has an '@' a Content-Type parser refuses: sent as plain bytes.
      res.writeHead(200, { 'Content-Type': pb ? 'application/octet-stream' : 'application/json', Vary: 'Accept' });
      res.end(pb ? openApiV2Protobuf : openApiV2Json);
      return;
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
    const verb = verbOf(req.method ?? 'GET', watching, name !== undefined);
    // create is authorized by its handler, which knows the name from the body.
    if (verb !== 'create') authorizeRoute(user, route, verb);
    if (
      r.kind === 'Pod' &&
      name &&
      user.groups.includes('system:nodes') &&
      !user.groups.includes('system:masters') &&
      (sub === 'status' || verb === 'delete')
    ) {
      const pod = (await reg.get(r, ns, name)) as Pod;
      const node = user.name.slice('system:node:'.length);
      if (pod.spec?.nodeName !== node)
        throw forbidden(`pods "${name}" is forbidden: node "${node}" may only change pods bound to it`);
    }
    if (r.namespaced && name && !ns) throw notFoundPath(req.url ?? '');
    const api = { registry: reg, metrics: this.o.metrics, tunnels: this.tunnels, watches: this.watches };
    await serveVerb({ req, res, route, q, ctx, accept, user, api }, verb);
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
      !CONNECT_SUBRESOURCES.includes(route.sub ?? '')
    )
      throw notFoundPath(target.raw);
    authorizeRoute(user, route, 'create');
    await connect({
      req,
      socket,
      head,
      pods: route.res,
      namespace: route.namespace,
      name: route.name,
      sub: route.sub as ConnectSub,
      q: target.query,
      registry: this.o.registry,
      tunnels: this.tunnels,
      wss: this.wss,
    });
  }
}
