// Raw HTTPS requests to the API with the admin token, for wire-level assertions.
import { request } from 'node:https';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests assert on any answer (object, list, Status, garbage)
  json(): any;
}

export function api(
  base: { server: string; token: string; ca: string },
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
  auth = true,
  timeoutMs = 30_000,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      base.server + path,
      {
        method,
        ca: base.ca,
        headers: {
          ...(auth ? { Authorization: `Bearer ${base.token}` } : {}),
          ...(body !== undefined
            ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) }
            : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json: () => JSON.parse(text) });
        });
      },
    );
    req.on('error', reject);
    // Every request has a deadline: a server that stops answering fails the test, not the run.
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
    if (body !== undefined) req.write(body);
    req.end();
  });
}
