// The agent's small Kubernetes API client: JSON over HTTPS with the CA pinned and a bearer token.
import { Agent, request } from 'node:https';

export class ApiStatusError extends Error {
  readonly code: number;
  // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
  readonly status: Record<string, any>;
  // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
  constructor(code: number, status: Record<string, any>) {
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

  // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
  async req<T = any>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
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
            // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
            let json: any = {};
            try {
              json = text ? JSON.parse(text) : {};
            } catch {
              // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
              json = { message: text } as any;
            }
            if ((res.statusCode ?? 0) >= 300) reject(new ApiStatusError(res.statusCode ?? 0, json));
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

  // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
  get<T = any>(path: string) {
    return this.req<T>('GET', path);
  }
  // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
  create<T = any>(path: string, obj: unknown) {
    return this.req<T>('POST', path, obj);
  }
  // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
  update<T = any>(path: string, obj: unknown) {
    return this.req<T>('PUT', path, obj);
  }
  // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
  mergePatch<T = any>(path: string, patch: unknown) {
    return this.req<T>('PATCH', path, patch, 'application/merge-patch+json');
  }
  // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
  strategicPatch<T = any>(path: string, patch: unknown) {
    return this.req<T>('PATCH', path, patch, 'application/strategic-merge-patch+json');
  }
  close() {
    this.agent.destroy();
  }
}
