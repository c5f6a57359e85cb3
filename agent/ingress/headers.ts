// Header rewriting at the proxy: hop-by-hop headers (RFC 9110 §7.6.1, and the ones a Connection
// header lists) are for one connection only and are dropped both ways; `Proxy` is dropped so an
// upstream CGI cannot take it for HTTP_PROXY (httpoxy); the X-Forwarded-* family tells the
// upstream who asked and how.
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * Fields a Connection header may not list away: they frame the message and name its target for
 * every hop. Dropping Content-Length because a client listed it would leave the upstream reading
 * the body as a second request that routing never saw (request smuggling).
 */
const END_TO_END = new Set(['content-length', 'host']);

const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
];

/** Removes hop-by-hop headers in place; `keepUpgrade` keeps `Connection: upgrade` and `Upgrade` for a WebSocket. */
export function stripHopByHop(h: IncomingHttpHeaders, keepUpgrade = false): void {
  const connection = h.connection;
  const upgrade = h.upgrade;
  // Deleting only what is there keeps the common header object out of V8's slow dictionary mode.
  for (const name of HOP_BY_HOP) if (h[name] !== undefined) delete h[name];
  if (connection)
    for (const n of connection.split(',')) {
      const name = n.trim().toLowerCase();
      if (name && !END_TO_END.has(name) && h[name] !== undefined) delete h[name];
    }
  if (h.proxy !== undefined) delete h.proxy;
  if (keepUpgrade && upgrade) {
    h.connection = 'upgrade';
    h.upgrade = upgrade;
  }
}

export interface ClientFacts {
  /** The client's address as the listener saw it. */
  address: string;
  secure: boolean;
  /** The listener's port. */
  port: number;
}

// An incoming X-Request-ID is kept when it looks like an ID; anything else is replaced.
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Sets X-Forwarded-For (appended), -Proto, -Host, -Port, X-Real-IP and X-Request-ID; returns the request ID. */
export function setForwarded(h: IncomingHttpHeaders, c: ClientFacts): string {
  const prior = h['x-forwarded-for'];
  h['x-forwarded-for'] = prior ? `${prior}, ${c.address}` : c.address;
  h['x-forwarded-proto'] = c.secure ? 'https' : 'http';
  h['x-forwarded-host'] = h.host ?? '';
  h['x-forwarded-port'] = String(c.port);
  h['x-real-ip'] = c.address;
  const id = typeof h['x-request-id'] === 'string' && REQUEST_ID.test(h['x-request-id']) ? h['x-request-id'] : '';
  h['x-request-id'] = id || randomUUID();
  return h['x-request-id'];
}

const HOP_SET = new Set([...HOP_BY_HOP, 'proxy']);

/** The field names a flat [name, value, ...] list's Connection header lists, lower case. */
function connectionListed(h: string[]): Set<string> | undefined {
  let listed: Set<string> | undefined;
  for (let i = 0; i < h.length; i += 2)
    if (h[i] === 'connection')
      for (const n of h[i + 1].split(',')) {
        const t = n.trim().toLowerCase();
        if (t && !END_TO_END.has(t)) (listed ??= new Set()).add(t);
      }
  return listed;
}

/**
 * The fields of an upstream response (a flat [name, value, ...] list, names in lower case) without
 * the hop-by-hop ones and those its Connection header lists.
 */
export function stripHopByHopList(h: string[]): string[] {
  const listed = connectionListed(h);
  const out: string[] = [];
  for (let i = 0; i < h.length; i += 2) if (!HOP_SET.has(h[i]) && !listed?.has(h[i])) out.push(h[i], h[i + 1]);
  return out;
}

/**
 * The upstream request head from the client's field lines (a flat [name, value, ...] list, names in
 * lower case), each line passed on as sent (repeats neither joined nor dropped), on both client
 * paths: hop-by-hop fields and those Connection lists dropped, `Proxy` dropped, the forwarding
 * fields set as setForwarded does. `host` replaces the Host value (an absolute-form target's
 * authority); `chunked` adds the coding of a body re-sent chunked.
 */
export function forwardHead(
  method: string,
  target: string,
  h: string[],
  c: ClientFacts,
  o: { host?: string; chunked?: boolean } = {},
): string {
  const listed = connectionListed(h);
  let head = `${method} ${target} HTTP/1.1\r\n`;
  let prior: string | undefined;
  let id: string | undefined;
  let ids = 0;
  let host = '';
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i];
    if (HOP_SET.has(name) || listed?.has(name)) continue;
    switch (name) {
      case 'x-forwarded-for':
        prior = prior === undefined ? h[i + 1] : `${prior}, ${h[i + 1]}`;
        continue;
      case 'x-request-id':
        id = h[i + 1];
        ids++;
        continue;
      case 'x-forwarded-proto':
      case 'x-forwarded-host':
      case 'x-forwarded-port':
      case 'x-real-ip':
        continue;
      case 'host':
        host = o.host ?? h[i + 1];
        head += `host: ${host}\r\n`;
        continue;
    }
    head += `${name}: ${h[i + 1]}\r\n`;
  }
  if (o.chunked) head += 'transfer-encoding: chunked\r\n';
  const rid = ids === 1 && id !== undefined && REQUEST_ID.test(id) ? id : randomUUID();
  return (
    `${head}x-forwarded-for: ${prior ? `${prior}, ${c.address}` : c.address}\r\n` +
    `x-forwarded-proto: ${c.secure ? 'https' : 'http'}\r\nx-forwarded-host: ${host}\r\n` +
    `x-forwarded-port: ${c.port}\r\nx-real-ip: ${c.address}\r\nx-request-id: ${rid}\r\n\r\n`
  );
}
