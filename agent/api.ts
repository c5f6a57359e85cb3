// The agent's small Kubernetes API client: JSON over HTTPS with the CA pinned and a bearer token.
import { Agent, request } from 'node:https';
import type { Status } from '../controlplane/shared/kube/index.ts';

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
  readonly server: string;
  private ca: string;
  private token: string;
  private agent: Agent;
  constructor(server: string, ca: string, token: string) {
    this.server = server.replace(/\/+$/, '');
    this.ca = ca;
    this.token = token;
    this.agent = new Agent({ keepAlive: true, ca, maxSockets: 8 });
  }

  async req<T = unknown>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const r = request(
        this.server + path,
        {
          method,
          agent: this.agent,
          ca: this.ca,
          timeout: 30_000,
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
      r.on('timeout', () => r.destroy(new Error(`request to ${path} timed out`)));
      r.on('error', reject);
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
