// The ingress listeners: plain HTTP and HTTPS (certificate by SNI) on the node's address, routing
// each request through the current route table to a pod endpoint with http-proxy-3. The table and
// the certificates are swapped in place, so a change never restarts a listener or touches a
// request in flight. Node's HTTP parser refuses smuggling attempts (Content-Length with
// Transfer-Encoding, obs-fold, bad chunk sizes) and its timeouts bound slow clients; this file
// turns those into short 400/408/431 answers.
import { STATUS_CODES, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { ProxyServer } from 'http-proxy-3';
import type { CertStore, KeyPair } from './certs.ts';
import { type Downstream, exchange, type Outgoing, ResponseDownstream } from './forward.ts';
import { dotSegment, type FastRequest, type RequestBody } from './h1.ts';
import { FastConn, type FastHost } from './fastpath.ts';
import { forwardHead, setForwarded, stripHopByHop } from './headers.ts';
import type { IngressMetrics } from './metrics.ts';
import { matchRoute, normalizeHost, type Route, type RouteTable, tlsSecretFor, type Upstream } from './routes.ts';
import { UpstreamPool } from './upstreams.ts';

export interface ProxyLimits {
  /** Time for a client to send the whole request head (slowloris bound). */
  headersTimeoutMs: number;
  /** Time for a client to send the whole request, body included. */
  requestTimeoutMs: number;
  /** An idle keep-alive client connection is closed after this long. */
  keepAliveTimeoutMs: number;
  /** Simple requests skip node:http (fastpath.ts); off sends every request through node:http. */
  fastPath: boolean;
  /** How often Node checks the two timeouts above. */
  checkIntervalMs: number;
  /** Largest request head in bytes. */
  maxHeaderBytes: number;
  /** Most request header fields. */
  maxHeaderCount: number;
  /** TLS handshakes that take longer are dropped. */
  handshakeTimeoutMs: number;
  /** Idle pooled upstream connections are closed after this long. */
  upstreamIdleMs: number;
  /** Most connections to one endpoint. */
  maxUpstreamSockets: number;
}

export const DEFAULT_LIMITS: ProxyLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 75_000,
  checkIntervalMs: 1_000,
  fastPath: true,
  maxHeaderBytes: 16 * 1024,
  maxHeaderCount: 100,
  handshakeTimeoutMs: 10_000,
  upstreamIdleMs: 30_000,
  maxUpstreamSockets: 512,
};

export interface ProxyConfig {
  address: string;
  httpPort: number;
  httpsPort: number;
  limits: ProxyLimits;
  certs: CertStore;
  defaultCert: KeyPair;
  metrics: IngressMetrics;
}

// Errors that mean no byte reached the endpoint: safe to try the next one.
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ECONNECT_TIMEOUT']);
const RETRY_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** A short plain-text answer; `Connection: close` when the request could not be read to its end. */
function reply(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `${text}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    ...headers,
  });
  res.end(body);
}

/** The same short answer written on a raw socket (upgrade requests and parser errors). */
function replyRaw(socket: Duplex, status: number, text: string, headers: Record<string, string> = {}): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${text}\n`;
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`,
  );
}

/**
 * Puts an absolute-form target (RFC 9112 §3.2.2) in origin form, its authority replacing Host as
 * the RFC asks, so the route is chosen by what the upstream will read; false when it is not http(s).
 */
function originForm(req: IncomingMessage): boolean {
  const url = req.url ?? '/';
  if (url.startsWith('/') || (url === '*' && req.method === 'OPTIONS')) return true;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !u.host || u.username || u.password) return false;
  req.url = `${u.pathname}${u.search}`;
  req.headers.host = u.host;
  return true;
}

function hostFields(raw: string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i].length === 4 && raw[i].toLowerCase() === 'host') n++;
  return n;
}

interface Attempt {
  route: Route;
  order: Upstream[];
  index: number;
  upstream: string;
  retryable: boolean;
  out: Outgoing;
  down: Downstream;
  /** The node:http response (absent on the fast path). */
  res?: ServerResponse;
}

export class IngressProxy implements FastHost {
  private table: RouteTable = {
    hosts: new Map(),
    wildcards: new Map(),
    anyHost: [],
    tls: new Map(),
    ingresses: [],
    problems: [],
  };
  private readonly proxy = new ProxyServer({ xfwd: false, ws: true });
  private readonly pool: UpstreamPool;
  private readonly sockets = new Set<Socket>();
  http?: Server;
  https?: Server;

  private readonly cfg: ProxyConfig;
  readonly maxHeaderBytes: number;
  readonly maxHeaderCount: number;
  readonly keepAliveTimeoutMs: number;

  constructor(cfg: ProxyConfig) {
    this.cfg = cfg;
    this.maxHeaderBytes = cfg.limits.maxHeaderBytes;
    this.maxHeaderCount = cfg.limits.maxHeaderCount;
    this.keepAliveTimeoutMs = cfg.limits.keepAliveTimeoutMs;
    this.pool = new UpstreamPool({ maxSockets: cfg.limits.maxUpstreamSockets, idleMs: cfg.limits.upstreamIdleMs });
    // Only upgrades go through http-proxy-3; errors without a callback (none expected: every call
    // passes one) must not crash the agent.
    this.proxy.on('error', () => {});
  }

  /** Swaps in a new route table; requests already on their way keep the endpoint they have. */
  setTable(table: RouteTable): void {
    this.table = table;
    this.pool.prune(table);
  }

  async start(): Promise<void> {
    const l = this.cfg.limits;
    const common = {
      headersTimeout: l.headersTimeoutMs,
      requestTimeout: l.requestTimeoutMs,
      keepAliveTimeout: l.keepAliveTimeoutMs,
      connectionsCheckingInterval: l.checkIntervalMs,
      maxHeaderSize: l.maxHeaderBytes,
      insecureHTTPParser: false,
      requireHostHeader: true,
    };
    this.http = createServer(common, (req, res) => this.onRequest(req, res, false));
    this.https = createTlsServer(
      {
        ...common,
        ...this.cfg.defaultCert,
        SNICallback: this.cfg.certs.sniCallback,
        minVersion: 'TLSv1.2',
        handshakeTimeout: l.handshakeTimeoutMs,
      },
      (req, res) => this.onRequest(req, res, true),
    );
    for (const [server, secure] of [
      [this.http, false],
      [this.https, true],
    ] as const) {
      server.maxHeadersCount = l.maxHeaderCount + 1;
      server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.onClientError(err, socket));
      server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
        this.onUpgrade(req, socket, head, secure),
      );
      // node:http's own connection listener is taken out and called only for connections the
      // fast path hands over (fastpath.ts); the listeners stay node:http's, timeouts included.
      const event = secure ? 'secureConnection' : 'connection';
      const nodeListener = server.listeners(event)[0] as (s: Socket) => void;
      if (l.fastPath) server.removeListener(event, nodeListener);
      server.on(event, (s: Socket) => {
        const which = secure ? 'https' : 'http';
        this.sockets.add(s);
        this.cfg.metrics.open[which]++;
        s.once('close', () => {
          this.sockets.delete(s);
          this.cfg.metrics.open[which]--;
        });
        if (l.fastPath) new FastConn(s, secure, this, (sock) => nodeListener.call(server, sock));
      });
      if (secure) server.on('tlsClientError', (_e: Error, s: Duplex) => s.destroy());
    }
    await Promise.all([
      new Promise<void>((ok, fail) => this.http?.once('error', fail).listen(this.cfg.httpPort, this.cfg.address, ok)),
      new Promise<void>((ok, fail) => this.https?.once('error', fail).listen(this.cfg.httpsPort, this.cfg.address, ok)),
    ]);
  }

  /** The ports actually bound (for port 0 in tests). */
  ports(): { http: number; https: number } {
    const port = (s?: Server) => {
      const a = s?.address();
      return typeof a === 'object' && a ? a.port : 0;
    };
    return { http: port(this.http), https: port(this.https) };
  }

  async stop(): Promise<void> {
    const close = (s?: Server) => new Promise<void>((ok) => (s ? s.close(() => ok()) : ok()));
    const done = Promise.all([close(this.http), close(this.https)]);
    for (const s of this.sockets) s.destroy();
    await done;
    this.pool.close();
  }

  /** Parser errors: smuggling attempts and malformed requests 400, slow heads 408, huge heads 431. */
  private onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    if (err.code === 'HPE_HEADER_OVERFLOW') replyRaw(socket, 431, 'request header too large');
    else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') replyRaw(socket, 408, 'request timeout');
    else replyRaw(socket, 400, 'bad request');
  }

  /** Routing decisions shared by plain requests and upgrades; a string is the refusal to send. */
  private decide(
    req: IncomingMessage,
    secure: boolean,
  ): { route: Route } | { status: number; text: string; headers?: Record<string, string>; ingress: string } {
    if (!originForm(req) || dotSegment(req.url ?? '/')) return { status: 400, text: 'bad request target', ingress: '' };
    if (req.rawHeaders.length / 2 > this.cfg.limits.maxHeaderCount)
      return { status: 431, text: 'too many header fields', ingress: '' };
    // Two Host fields: which one names the route is ambiguous (RFC 9112 §3.2 asks for a 400).
    if (hostFields(req.rawHeaders) > 1) return { status: 400, text: 'more than one host field', ingress: '' };
    const route = matchRoute(this.table, req.headers.host, req.url ?? '/');
    if (!route) return { status: 404, text: 'no ingress rule matches', ingress: '' };
    if (!secure && route.options.sslRedirect && tlsSecretFor(this.table, req.headers.host)) {
      const port = this.cfg.httpsPort === 443 ? '' : `:${this.ports().https}`;
      const location = `https://${normalizeHost(req.headers.host)}${port}${req.url ?? '/'}`;
      return { status: 308, text: 'permanent redirect', headers: { location }, ingress: route.ingress };
    }
    if (!route.backend.endpoints.length)
      return { status: 503, text: 'service unavailable: no ready endpoint', ingress: route.ingress };
    return { route };
  }

  private onRequest(req: IncomingMessage, res: ServerResponse, secure: boolean): void {
    const started = performance.now();
    const d = this.decide(req, secure);
    if (!('route' in d)) {
      res.once('finish', () => this.cfg.metrics.request(d.ingress, d.status, '', (performance.now() - started) / 1000));
      reply(res, d.status, d.text, d.headers);
      return;
    }
    const { route } = d;
    const limit = route.options.maxBodyBytes;
    const length = req.headers['content-length'];
    const declared = Number(length ?? 0);
    if (limit && declared > limit) {
      res.shouldKeepAlive = false;
      reply(res, 413, 'request body too large');
      return;
    }
    // llhttp accepted the framing: a Content-Length, or chunked as the last coding, or no body.
    const body: RequestBody =
      req.headers['transfer-encoding'] !== undefined ? 'chunked' : length !== undefined ? 'length' : 'none';
    const attempt: Attempt = {
      route,
      order: this.pool.order(route.backend),
      index: 0,
      upstream: '',
      retryable: RETRY_METHODS.has(req.method ?? '') && (body === 'none' || (body === 'length' && declared === 0)),
      out: { method: req.method ?? 'GET', head: '', req, body },
      down: new ResponseDownstream(res),
      res,
    };
    const socket = req.socket;
    // The field lines as the client sent them, as on the fast path: node:http's req.headers joins
    // repeats (and drops some, e.g. a second Authorization), so it is not what is forwarded.
    const fields: string[] = [];
    const rawHeaders = req.rawHeaders;
    for (let i = 0; i < rawHeaders.length; i += 2) fields.push(rawHeaders[i].toLowerCase(), rawHeaders[i + 1]);
    const facts = { address: socket.remoteAddress ?? '', secure, port: socket.localPort ?? 0 };
    attempt.out.head = forwardHead(attempt.out.method, req.url ?? '/', fields, facts, {
      host: req.headers.host,
      chunked: body === 'chunked',
    });
    res.once('close', () => {
      const status = res.headersSent ? res.statusCode : 499;
      this.cfg.metrics.request(route.ingress, status, attempt.upstream, (performance.now() - started) / 1000);
    });
    this.forward(attempt);
  }

  private forward(a: Attempt): void {
    const u = a.order[a.index];
    a.upstream = `${u.ip}:${u.port}`;
    const o = a.route.options;
    exchange(
      this.pool,
      u,
      a.out,
      a.down,
      { connectTimeoutMs: o.connectTimeoutMs, readTimeoutMs: o.readTimeoutMs, maxBodyBytes: o.maxBodyBytes },
      {
        tooLarge: () => {
          if (a.res) {
            a.res.shouldKeepAlive = false;
            reply(a.res, 413, 'request body too large');
          }
          a.out.req?.destroy();
        },
        failed: ({ code, stale }) => {
          if (a.down.destroyed) return;
          // A pooled connection the endpoint closed while idle: also safe to resend.
          if (a.retryable && stale) {
            this.forward(a);
            return;
          }
          if (a.retryable && CONNECT_ERRORS.has(code) && a.index + 1 < a.order.length) {
            a.index++;
            this.forward(a);
            return;
          }
          const timeout = code === 'ETIMEDOUT' || code === 'ECONNECT_TIMEOUT';
          const [status, text] = timeout ? [504, 'upstream timed out'] : [502, 'bad gateway: upstream failed'];
          if (a.res) reply(a.res, status, text);
          else if (a.down instanceof FastConn) a.down.reply(status, text);
        },
      },
    );
  }

  /** FastHost: a fast-path request that routes to a backend with endpoints is forwarded here. */
  forwardFast(r: FastRequest, c: FastConn): boolean {
    const route = matchRoute(this.table, r.host, r.target);
    if (!route?.backend.endpoints.length) return false;
    if (!c.secure && route.options.sslRedirect && tlsSecretFor(this.table, r.host)) return false;
    const started = performance.now();
    const s = c.socket;
    const facts = { address: s.remoteAddress ?? '', secure: c.secure, port: s.localPort ?? 0 };
    const a: Attempt = {
      route,
      order: this.pool.order(route.backend),
      index: 0,
      upstream: '',
      retryable: RETRY_METHODS.has(r.method),
      out: { method: r.method, head: forwardHead(r.method, r.target, r.headers, facts), body: 'none' },
      down: c,
    };
    c.onDone = (_completed, status) =>
      this.cfg.metrics.request(route.ingress, status || 499, a.upstream, (performance.now() - started) / 1000);
    this.forward(a);
    return true;
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, secure: boolean): void {
    const started = performance.now();
    const d = this.decide(req, secure);
    if (!('route' in d)) {
      this.cfg.metrics.request(d.ingress, d.status, '', (performance.now() - started) / 1000);
      replyRaw(socket, d.status, d.text, d.headers);
      return;
    }
    const { route } = d;
    const [u] = this.pool.order(route.backend);
    stripHopByHop(req.headers, true);
    const raw = socket as Socket;
    setForwarded(req.headers, { address: raw.remoteAddress ?? '', secure, port: raw.localPort ?? 0 });
    let status = 101;
    // Idle bound for the tunnel: the client socket sees every byte of both directions.
    socket.once('close', () =>
      this.cfg.metrics.request(route.ingress, status, `${u.ip}:${u.port}`, (performance.now() - started) / 1000),
    );
    this.proxy.ws(
      req,
      socket,
      head,
      { target: { host: u.ip, port: u.port, protocol: 'http:' }, connectTimeout: route.options.connectTimeoutMs },
      (err) => {
        status = (err as NodeJS.ErrnoException).code === 'ECONNECT_TIMEOUT' ? 504 : 502;
        replyRaw(socket, status, status === 504 ? 'upstream timed out' : 'bad gateway: upstream failed');
      },
    );
    raw.setTimeout(route.options.websocketIdleMs, () => socket.destroy());
  }
}
