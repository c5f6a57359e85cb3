// A small HTTPS JSON client for the benchmarks (keep-alive, admin token), and percentiles.
import { Agent, request } from 'node:https';
import type { KubeObject, WatchEvent } from '../controlplane/shared/kube/index.ts';

export type Base = { server: string; token: string; ca: string };
export const agent = new Agent({ keepAlive: true, maxSockets: 200 });

// biome-ignore lint/suspicious/noExplicitAny: benches read a field or two of whatever the API answers
export function call(base: Base, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      base.server + path,
      {
        method,
        ca: base.ca,
        agent,
        headers: {
          Authorization: `Bearer ${base.token}`,
          ...(data
            ? {
                'Content-Type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json',
                'Content-Length': Buffer.byteLength(data),
              }
            : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString() || '{}') }),
        );
      },
    );
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

export const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

/** Follows a watch (path with watch=1), calling onEvent per event; returns a stop function. */
export function watchEvents<T extends KubeObject = KubeObject>(
  base: Base,
  path: string,
  onEvent: (ev: WatchEvent<T>) => void,
): () => void {
  const req = request(
    base.server + path,
    { ca: base.ca, headers: { Authorization: `Bearer ${base.token}` } },
    (res) => {
      let buf = '';
      res.on('data', (c: Buffer) => {
        buf += c.toString();
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.trim()) onEvent(JSON.parse(line));
        }
      });
    },
  );
  req.on('error', () => {});
  req.end();
  return () => req.destroy();
}
