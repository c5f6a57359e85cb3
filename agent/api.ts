// The agent's small Kubernetes API client: JSON over HTTPS with the CA pinned and a bearer token.
// Given several servers it stays on one until it fails (refused, reset, unreachable, or no TLS
// handshake within a few seconds), then moves to the next and says so in the log.
import { Agent, request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { Status } from '../controlplane/shared/kube/index.ts';

/** No answer within this long: the server counts as down (the agent's requests are all short). */
const REQUEST_TIMEOUT_MS = 10_000;
/** A server that does not finish the TLS handshake within this long counts as down. */
const CONNECT_TIMEOUT_MS = 4_000;
/** Errors that say the request never reached the server: safe to send again elsewhere. */
const NOT_SENT = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'EAI_AGAIN', 'ENOTFOUND']);
/** Errors that say the server (or the way to it) is gone. */
const DOWN = new Set([...NOT_SENT, 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'SKIFF_CONNECT_TIMEOUT', 'SKIFF_TIMEOUT']);

class TransportError extends Error {
  readonly code: string;
  /** True when no byte of the request can have been processed by the server. */
  readonly notSent: boolean;
  constructor(message: string, code: string, notSent: boolean) {
    super(message);
    this.code = code;
    this.notSent = notSent;
  }
}

/** `https://a:6443,https://b:6443` (or one URL) → the list, without trailing slashes. */
export function serverList(servers: string | string[]): string[] {
  const list = (Array.isArray(servers) ? servers : servers.split(','))
    .map((s) => s.trim().replace(/\/+$/, ''))
    .filter(Boolean);
  if (!list.length) throw new Error('no API server given');
  return list;
}

export class ApiStatusError extends Error {
  readonly code: number;
  /** The API's Status answer; a body that was not JSON arrives as its text in `message`. */
  readonly status: Partial<Status>;
  constructor(code: number, status: Partial<Status>) {
    super(status?.message ?? `HTTP ${code}`);
    this.code = code;
    this.status = status;
  }
}

export class ApiClient {
  readonly servers: string[];
  private at = 0;
  private ca: string;
  private token: string;
  private agent: Agent;
  private log: (s: string) => void;
  constructor(servers: string | string[], ca: string, token: string, log: (s: string) => void = () => {}) {
    this.servers = serverList(servers);
    this.ca = ca;
    this.token = token;
    this.log = log;
    this.agent = new Agent({ keepAlive: true, ca, maxSockets: 8 });
  }

  /** The server in use. */
  get server(): string {
    return this.servers[this.at];
  }

  /** Leaves a failed server for the next one (unless another request already did). */
  private failOver(from: number, why: string) {
    if (this.servers.length < 2 || from !== this.at) return;
    this.at = (this.at + 1) % this.servers.length;
    this.log(`API server ${this.servers[from]} failed (${why}); now using ${this.server}`);
  }

  async req<T = unknown>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    // Every server gets one try; a POST (not idempotent) goes again only if it cannot have reached
    // the server. Merge patches, PUTs (guarded by resourceVersion) and DELETEs are safe to repeat.
    for (let tries = 1; ; tries++) {
      const from = this.at;
      try {
        return await this.once<T>(this.servers[from], method, path, body, contentType);
      } catch (e) {
        if (!(e instanceof TransportError) || !DOWN.has(e.code)) throw e;
        this.failOver(from, e.message);
        if (tries >= this.servers.length || (method === 'POST' && !e.notSent)) throw e;
      }
    }
  }

  private once<T = unknown>(
    server: string,
    method: string,
    path: string,
    body: unknown,
    contentType: string,
  ): Promise<T> {
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const r = request(
        server + path,
        {
          method,
          agent: this.agent,
          ca: this.ca,
          timeout: REQUEST_TIMEOUT_MS,
          headers: {
            Authorization: `Bearer ${this.token}`,
            Accept: 'application/json',
            'User-Agent': 'skiff-agent/0.1',
            ...(data ? { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(data) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let json: unknown = {};
            try {
              json = text ? JSON.parse(text) : {};
            } catch {
              json = { message: text };
            }
            // An error answer is a Status (or the text above); a success is the type the caller names.
            if ((res.statusCode ?? 0) >= 300) reject(new ApiStatusError(res.statusCode ?? 0, json as Partial<Status>));
            else resolve(json as T);
          });
        },
      );
      r.on('timeout', () => r.destroy(new TransportError(`request to ${path} timed out`, 'SKIFF_TIMEOUT', false)));
      // A new connection must finish its handshake soon; a pooled one is already up.
      r.on('socket', (sock) => {
        if (!sock.connecting) return;
        const t = setTimeout(
          () =>
            r.destroy(
              new TransportError(`no TLS handshake within ${CONNECT_TIMEOUT_MS} ms`, 'SKIFF_CONNECT_TIMEOUT', true),
            ),
          CONNECT_TIMEOUT_MS,
        );
        (sock as TLSSocket).once('secureConnect', () => clearTimeout(t));
        sock.once('close', () => clearTimeout(t));
      });
      r.on('error', (e: NodeJS.ErrnoException) => {
        if (e instanceof TransportError) return reject(e);
        const code = e.code ?? '';
        const notSent = NOT_SENT.has(code);
        reject(DOWN.has(code) ? new TransportError(`${code}: ${e.message}`, code, notSent) : e);
      });
      if (data) r.write(data);
      r.end();
    });
  }

  get<T = unknown>(path: string) {
    return this.req<T>('GET', path);
  }
  create<T = unknown>(path: string, obj: unknown) {
    return this.req<T>('POST', path, obj);
  }
  update<T = unknown>(path: string, obj: unknown) {
    return this.req<T>('PUT', path, obj);
  }
  mergePatch<T = unknown>(path: string, patch: unknown) {
    return this.req<T>('PATCH', path, patch, 'application/merge-patch+json');
  }
  strategicPatch<T = unknown>(path: string, patch: unknown) {
    return this.req<T>('PATCH', path, patch, 'application/strategic-merge-patch+json');
  }
  close() {
    this.agent.destroy();
  }
}
