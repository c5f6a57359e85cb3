// Wire-level requests that keep the request target exactly as written (no URL normalisation by
// the client: dot-segments, backslashes and percent-escapes reach the server verbatim), and raw
// bytes over TLS for what Node's client refuses to send. Every request has a deadline.
import { request, type RequestOptions } from 'node:https';
import { connect, createSecureContext, type SecureContext } from 'node:tls';
import type { Reply } from './http.ts';

export interface Base {
  server: string;
  token: string;
  ca: string;
}

// One TLS context per CA: building it (parsing the CA) per connection costs tens of milliseconds.
const contexts = new Map<string, SecureContext>();
export function tlsContext(ca: string): SecureContext {
  let c = contexts.get(ca);
  if (!c) contexts.set(ca, (c = createSecureContext({ ca })));
  return c;
}

/** https.request options that reuse the CA's TLS context (the typings lack `secureContext`). */
export function tlsOptions(ca: string): RequestOptions {
  return { secureContext: tlsContext(ca) } as RequestOptions;
}

export function raw(
  base: Base,
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
  timeoutMs = 15_000,
): Promise<Reply> {
  const u = new URL(base.server);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        method,
        path,
        ...tlsOptions(base.ca),
        agent: false,
        headers: {
          Authorization: `Bearer ${base.token}`,
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
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json: () => JSON.parse(text) });
        });
        res.on('error', reject);
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Sends `bytes` as they are and returns what came back until the server closed or the deadline. */
export function rawBytes(base: Base, bytes: Buffer | string, timeoutMs = 10_000, closeAfterMs = 0): Promise<string> {
  const u = new URL(base.server);
  return new Promise((resolve, reject) => {
    const sock = connect({
      host: u.hostname,
      port: Number(u.port),
      secureContext: tlsContext(base.ca),
      servername: 'localhost',
    });
    const chunks: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const timer = setTimeout(() => {
      sock.destroy();
      done();
    }, timeoutMs);
    sock.on('secureConnect', () => {
      sock.write(bytes);
      if (closeAfterMs) setTimeout(() => sock.end(), closeAfterMs);
    });
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('end', done);
    sock.on('close', done);
    sock.on('error', (e) => {
      clearTimeout(timer);
      if (chunks.length) done();
      else reject(e);
    });
  });
}

/** Parses the status line and JSON body of a raw HTTP/1.1 reply. */
export function parseRaw(text: string): { status: number; body: string } {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
  const at = text.indexOf('\r\n\r\n');
  let body = at >= 0 ? text.slice(at + 4) : '';
  if (/transfer-encoding: chunked/i.test(text.slice(0, at))) {
    let out = '';
    let rest = body;
    for (;;) {
      const nl = rest.indexOf('\r\n');
      if (nl < 0) break;
      const n = parseInt(rest.slice(0, nl), 16);
      if (!n) break;
      out += rest.slice(nl + 2, nl + 2 + n);
      rest = rest.slice(nl + 2 + n + 2);
    }
    body = out;
  }
  return { status: m ? Number(m[1]) : 0, body };
}
