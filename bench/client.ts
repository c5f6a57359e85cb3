// A small HTTPS JSON client for the benchmarks (keep-alive, admin token), and percentiles.
import { Agent, request } from 'node:https';

export type Base = { server: string; token: string; ca: string };
export const agent = new Agent({ keepAlive: true, maxSockets: 200 });

export function call(base: Base, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(base.server + path, { method, ca: base.ca, agent, headers: { Authorization: `Bearer ${base.token}`, ...(data ? { 'Content-Type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json', 'Content-Length': Buffer.byteLength(data) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString() || '{}') }));
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

export const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]; };

