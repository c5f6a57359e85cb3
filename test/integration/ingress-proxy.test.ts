// The ingress proxy against real backends on 127.0.0.1: real node:http servers, real TLS with
// certificates made by openssl, a real WebSocket server (ws). Routing, headers, SNI, the 308,
// WebSocket echo, 404/502/503/504, limits, smuggling and slowloris refused, secret rotation.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { WebSocket, WebSocketServer } from 'ws';
import type {
  EndpointSlice,
  HTTPIngressPath,
  Ingress,
  IngressClass,
  Secret,
  Service,
} from '../../controlplane/shared/kube/index.ts';
import { CertStore, defaultCertificate, selfSigned, type KeyPair } from '../../agent/ingress/certs.ts';
import { IngressMetrics } from '../../agent/ingress/metrics.ts';
import { DEFAULT_LIMITS, IngressProxy } from '../../agent/ingress/proxy.ts';
import { buildRoutes } from '../../agent/ingress/routes.ts';

const dir = mkdtempSync(join(tmpdir(), 'ing-proxy-'));
const servers: Server[] = [];
let proxy: IngressProxy;
let certs: CertStore;
let http = 0;
let https = 0;
const metrics = new IngressMetrics();
const ports: Record<string, number> = {};
let refusedPort = 0;

async function makeCert(cn: string): Promise<KeyPair> {
  const key = join(dir, `${cn}-${Date.now()}.key`);
  const crt = join(dir, `${cn}-${Date.now()}.crt`);
  await selfSigned({ crt, key, subject: `/CN=${cn}`, days: 1, dns: cn });
  return { cert: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') };
}

const tlsSecret = (name: string, kp: KeyPair): Secret => ({
  metadata: { name, namespace: 'default' },
  type: 'kubernetes.io/tls',
  data: { 'tls.crt': Buffer.from(kp.cert).toString('base64'), 'tls.key': Buffer.from(kp.key).toString('base64') },
});

/** A backend that answers with its name, the path and the headers it received. */
function echo(name: string, slowMs = 0): Promise<number> {
  const s = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const send = () => {
        res.setHeader('content-type', 'application/json');
        res.setHeader('keep-alive', 'timeout=5');
        res.setHeader('x-hop', 'dropped');
        res.setHeader('connection', 'x-hop');
        res.end(JSON.stringify({ name, url: req.url, headers: req.headers, body: Buffer.concat(chunks).length }));
      };
      if (slowMs) setTimeout(send, slowMs);
      else send();
    });
  });
  servers.push(s);
  if (name === 'ws') {
    const wss = new WebSocketServer({ server: s });
    wss.on('connection', (sock, req) =>
      sock.on('message', (m) => sock.send(`echo:${m}:${req.headers['x-forwarded-proto']}`)),
    );
  }
  return new Promise((ok) => s.listen(0, '127.0.0.1', () => ok((s.address() as AddressInfo).port)));
}

const svc = (name: string): Service => ({
  metadata: { name, namespace: 'default' },
  spec: { ports: [{ name: 'http', port: 80 }] },
});

/** One slice per endpoint: the backends share 127.0.0.1 on distinct ports (a pod IP each in a cluster). */
function slice(service: string, ip: string | undefined, port: number, name = `${service}-1`): EndpointSlice {
  return {
    metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    endpoints: ip ? [{ addresses: [ip] }] : [],
    ports: [{ name: 'http', port, protocol: 'TCP' }],
  };
}

const p = (path: string, service: string, pathType: HTTPIngressPath['pathType'] = 'Prefix'): HTTPIngressPath => ({
  path,
  pathType,
  backend: { service: { name: service, port: { name: 'http' } } },
});

const skiffClass: IngressClass = {
  metadata: { name: 'skiff', annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } },
  spec: { controller: 'skiff.io/ingress' },
};

function ingresses(): Ingress[] {
  return [
    {
      metadata: { name: 'apps', namespace: 'default', creationTimestamp: '2026-01-01T00:00:00Z' },
      spec: {
        tls: [
          { hosts: ['a.test'], secretName: 'cert-a' },
          { hosts: ['b.test'], secretName: 'cert-b' },
        ],
        rules: [
          { host: 'a.test', http: { paths: [p('/', 'one'), p('/two', 'two'), p('/ws', 'ws')] } },
          { host: 'b.test', http: { paths: [p('/', 'two')] } },
          {
            host: 'plain.test',
            http: {
              paths: [
                p('/', 'one'),
                p('/two', 'two'),
                p('/two', 'one', 'Exact'),
                p('/ws', 'ws'),
                p('/empty', 'empty'),
                p('/down', 'down'),
                p('/retry', 'retry'),
              ],
            },
          },
        ],
      },
    },
    {
      metadata: {
        name: 'tuned',
        namespace: 'default',
        creationTimestamp: '2026-01-02T00:00:00Z',
        annotations: {
          'skiff.io/proxy-read-timeout': '300ms',
          'skiff.io/proxy-body-size': '1k',
          'skiff.io/ssl-redirect': 'false',
        },
      },
      spec: {
        tls: [{ hosts: ['c.test'], secretName: 'cert-a' }],
        rules: [{ host: 'c.test', http: { paths: [p('/slow', 'slow'), p('/', 'one')] } }],
      },
    },
  ];
}

let secrets: Map<string, Secret>;
let slices: EndpointSlice[];

function apply(): void {
  const services = new Map<string, Service>();
  for (const n of ['one', 'two', 'ws', 'slow', 'empty', 'down', 'retry']) services.set(`default/${n}`, svc(n));
  const table = buildRoutes({ ingresses: ingresses(), ingressClasses: [skiffClass], services, endpointSlices: slices });
  assert.deepEqual(certs.update(table, secrets), []);
  proxy.setTable(table);
}

before(async () => {
  for (const n of ['one', 'two', 'ws']) ports[n] = await echo(n);
  ports.slow = await echo('slow', 5_000);
  const gone = createServer();
  refusedPort = await new Promise<number>((ok) =>
    gone.listen(0, '127.0.0.1', () => ok((gone.address() as AddressInfo).port)),
  );
  await new Promise((r) => gone.close(r));
  const def = await defaultCertificate(join(dir, 'default'));
  certs = new CertStore(def);
  secrets = new Map([
    ['default/cert-a', tlsSecret('cert-a', await makeCert('a.test'))],
    ['default/cert-b', tlsSecret('cert-b', await makeCert('b.test'))],
  ]);
  slices = [
    slice('one', '127.0.0.1', ports.one),
    slice('two', '127.0.0.1', ports.two),
    slice('ws', '127.0.0.1', ports.ws),
    slice('slow', '127.0.0.1', ports.slow),
    slice('empty', undefined, 80),
    slice('down', '127.0.0.1', refusedPort),
    // A refused endpoint and a live one: a GET that meets the refused one moves on.
    slice('retry', '127.0.0.2', refusedPort),
    slice('retry', '127.0.0.1', ports.one, 'retry-2'),
  ];
  proxy = new IngressProxy({
    address: '127.0.0.1',
    httpPort: 0,
    httpsPort: 0,
    limits: { ...DEFAULT_LIMITS, headersTimeoutMs: 1_000, requestTimeoutMs: 3_000, checkIntervalMs: 200 },
    certs,
    defaultCert: def,
    metrics,
  });
  await proxy.start();
  ({ http, https } = proxy.ports());
  apply();
});

after(async () => {
  await proxy?.stop();
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  // biome-ignore lint/suspicious/noExplicitAny: the echo backend's JSON
  json(): any;
  subject?: string;
  socket?: TLSSocket;
}

function get(
  host: string,
  path: string,
  opts: { headers?: Record<string, string>; method?: string; body?: string; tls?: boolean; agent?: HttpsAgent } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const o = {
      host: '127.0.0.1',
      port: opts.tls ? https : http,
      path,
      method: opts.method ?? 'GET',
      headers: { host, ...opts.headers },
      timeout: 10_000,
      servername: host,
      rejectUnauthorized: false,
      agent: opts.agent ?? false,
    };
    const req = (opts.tls ? httpsRequest : request)(o, (res) => {
      // Read before the end: a keep-alive agent takes the socket back once the body is done.
      const socket = opts.tls ? (res.socket as TLSSocket) : undefined;
      const subject = socket?.getPeerCertificate()?.subject?.CN as string | undefined;
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          json: () => JSON.parse(body),
          subject,
          socket,
        });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${host}${path} timed out`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Writes raw bytes and reads what comes back until the proxy closes the connection. */
function raw(data: string | string[], gapMs = 0, deadlineMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(http, '127.0.0.1');
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('raw request got no close within the deadline'));
    }, deadlineMs);
    let out = '';
    s.on('data', (c) => {
      out += c.toString();
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    const parts = Array.isArray(data) ? data : [data];
    let i = 0;
    const next = () => {
      if (i >= parts.length || s.destroyed) return;
      s.write(parts[i++]);
      if (gapMs) setTimeout(next, gapMs);
      else next();
    };
    next();
  });
}

test('routes by host and path, Exact beats Prefix, sets forwarding headers and drops hop-by-hop ones', async () => {
  const cases: [string, string, string][] = [
    ['plain.test', '/', 'one'],
    ['plain.test', '/two', 'one'],
    ['plain.test', '/two/x', 'two'],
    ['plain.test', '/twox', 'one'],
    ['PLAIN.test:80', '/two/', 'two'],
  ];
  for (const [host, path, want] of cases) {
    const r = await get(host, path);
    assert.equal(r.status, 200, `${host}${path}`);
    assert.equal(r.json().name, want, `${host}${path}`);
    assert.equal(r.json().url, path);
  }
  const r = await get('plain.test', '/h', {
    headers: {
      'x-forwarded-for': '192.0.2.9',
      'x-request-id': 'given-id.1',
      proxy: 'http://evil.example:3128',
      connection: 'keep-alive, x-secret',
      'x-secret': 'hop',
      'proxy-authorization': 'Basic eA==',
    },
  });
  const h = r.json().headers;
  assert.equal(h['x-forwarded-for'], '192.0.2.9, 127.0.0.1');
  assert.equal(h['x-real-ip'], '127.0.0.1');
  assert.equal(h['x-forwarded-proto'], 'http');
  assert.equal(h['x-forwarded-host'], 'plain.test');
  assert.equal(h['x-forwarded-port'], String(http));
  assert.equal(h['x-request-id'], 'given-id.1');
  assert.equal(h.proxy, undefined);
  assert.equal(h['x-secret'], undefined);
  assert.equal(h['proxy-authorization'], undefined);
  assert.equal(r.headers['x-hop'], undefined, 'a header the upstream listed in Connection is dropped');
  assert.equal(r.headers['keep-alive'], undefined);
  const r2 = await get('plain.test', '/h', { headers: { 'x-request-id': 'bad id\twith spaces' } });
  assert.match(r2.json().headers['x-request-id'], /^[0-9a-f-]{36}$/);
});

test('TLS: SNI picks each host’s certificate, the default one otherwise; X-Forwarded-Proto https', async () => {
  const a = await get('a.test', '/', { tls: true });
  assert.equal(a.subject, 'a.test');
  assert.equal(a.json().headers['x-forwarded-proto'], 'https');
  assert.equal(a.json().headers['x-forwarded-port'], String(https));
  const b = await get('b.test', '/', { tls: true });
  assert.equal(b.subject, 'b.test');
  assert.equal(b.json().name, 'two');
  const other = await get('plain.test', '/', { tls: true });
  assert.equal(other.subject, 'Skiff Ingress Default Certificate');
  assert.equal(other.status, 200);
});

test('HTTP to a TLS host is redirected with 308 unless the annotation turns it off', async () => {
  const r = await get('a.test', '/x/y?z=1');
  assert.equal(r.status, 308);
  assert.equal(r.headers.location, `https://a.test:${https}/x/y?z=1`);
  const c = await get('c.test', '/');
  assert.equal(c.status, 200);
  assert.equal(c.json().name, 'one');
});

test('WebSocket upgrade through the ingress, plain and TLS', async () => {
  for (const [url, tls] of [
    [`ws://127.0.0.1:${http}/ws`, 'http'],
    [`wss://127.0.0.1:${https}/ws`, 'https'],
  ] as const) {
    const host = tls === 'http' ? 'plain.test' : 'a.test';
    // biome-ignore lint/suspicious/noExplicitAny: ws passes TLS options to tls.connect; its types omit servername
    const ws = new WebSocket(url, { headers: { host }, servername: host, rejectUnauthorized: false } as any);
    const reply = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${url}: no echo within 5 s`)), 5_000);
      ws.on('open', () => ws.send('hello'));
      ws.on('message', (m) => {
        clearTimeout(t);
        resolve(String(m));
      });
      ws.on('error', reject);
    });
    assert.equal(reply, `echo:hello:${tls === 'http' ? 'http' : 'https'}`);
    ws.close();
  }
});

test(
  'short answers: 404 no rule, 503 no endpoint, 502 refused, ' + '504 upstream timeout, retry to the next endpoint',
  async () => {
    const nf = await get('nothing.test', '/');
    assert.equal(nf.status, 404);
    assert.equal(nf.body, 'no ingress rule matches\n');
    assert.equal((await get('plain.test', '/empty')).status, 503);
    assert.equal((await get('plain.test', '/down')).status, 502);
    const t0 = Date.now();
    assert.equal((await get('c.test', '/slow')).status, 504);
    assert.ok(Date.now() - t0 < 3_000, 'the read timeout annotation (300ms) applies');
    for (let i = 0; i < 4; i++) {
      const r = await get('plain.test', '/retry');
      assert.equal(r.status, 200, 'a GET that meets the refused endpoint moves on to the live one');
      assert.equal(r.json().name, 'one');
    }
    assert.equal((await get('plain.test', '/retry', { method: 'POST', body: 'x' })).status !== 0, true);
  },
);

test('limits: body size annotation 413, header count 431, header size 431', async () => {
  assert.equal((await get('c.test', '/', { method: 'POST', body: 'x'.repeat(2000) })).status, 413);
  const ok = await get('c.test', '/', { method: 'POST', body: 'x'.repeat(500) });
  assert.equal(ok.status, 200);
  assert.equal(ok.json().body, 500);
  const many: Record<string, string> = {};
  for (let i = 0; i < 150; i++) many[`x-h${i}`] = 'v';
  assert.equal((await get('plain.test', '/', { headers: many })).status, 431);
  const big = await raw(`GET / HTTP/1.1\r\nhost: plain.test\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`);
  assert.match(big, /^HTTP\/1.1 431 /);
});

test('smuggling attempts are refused with 400', async () => {
  const attempts = [
    'POST / HTTP/1.1\r\nhost: plain.test\r\ncontent-length: 4\r\ntransfer-encoding: ' +
      'chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: plain.test\r\n\r\n',
    'GET / HTTP/1.1\r\nhost: plain.test\r\nx-folded: a\r\n b\r\n\r\n',
    'POST / HTTP/1.1\r\nhost: plain.test\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
    'POST / HTTP/1.1\r\nhost: plain.test\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab',
    'POST / HTTP/1.1\r\nhost: plain.test\r\ntransfer-encoding: chunked, identity\r\n\r\n0\r\n\r\n',
  ];
  for (const a of attempts) {
    const out = await raw(a);
    assert.match(out, /^HTTP\/1.1 400 /, JSON.stringify(a.slice(0, 60)));
    assert.doesNotMatch(out, /smuggled/);
  }
});

test('a slowloris client is cut off after the header timeout while normal clients are served', async () => {
  const t0 = Date.now();
  const slow = raw(
    Array.from({ length: 40 }, (_, i) => (i === 0 ? 'GET / HTTP/1.1\r\nhost: plain.test\r\n' : `x-${i}: y\r\n`)),
    200,
  );
  for (let i = 0; i < 5; i++) assert.equal((await get('plain.test', '/')).status, 200);
  const out = await slow;
  const took = Date.now() - t0;
  assert.match(out, /^HTTP\/1.1 408 /);
  assert.ok(took < 2_500, `cut off after ${took} ms (header timeout 1 s)`);
});

test('a rotated Secret is served to new connections without dropping an open one', async () => {
  const agent = new HttpsAgent({ keepAlive: true, maxSockets: 1 });
  const first = await get('b.test', '/', { tls: true, agent });
  assert.equal(first.subject, 'b.test');
  const oldFingerprint = first.socket?.getPeerCertificate().fingerprint256;
  const rotated = await makeCert('b.test');
  secrets.set('default/cert-b', tlsSecret('cert-b', rotated));
  apply();
  // The open connection keeps working (same socket, reused by the agent).
  const again = await get('b.test', '/', { tls: true, agent });
  assert.equal(again.status, 200);
  assert.equal(again.socket, first.socket, 'the keep-alive connection was not dropped');
  // A new connection gets the new certificate.
  const fresh = await get('b.test', '/', { tls: true });
  const newFingerprint = fresh.socket?.getPeerCertificate().fingerprint256;
  assert.notEqual(newFingerprint, oldFingerprint);
  assert.equal(fresh.subject, 'b.test');
  agent.destroy();
});

test('/metrics counts requests by ingress, status and upstream', () => {
  const text = metrics.render();
  assert.match(
    text,
    new RegExp(
      `skiff_ingress_requests_total\\{ingress="default/apps",status="200",upstream="127.0.0.1:${ports.one}"\\} \\d+`,
    ),
  );
  assert.match(text, /skiff_ingress_requests_total\{ingress="",status="404",upstream=""\} 1/);
  assert.match(
    text,
    /skiff_ingress_requests_total\{ingress="default\/tuned",status="504",upstream="127.0.0.1:\d+"\} 1/,
  );
  assert.match(text, /skiff_ingress_request_duration_seconds_count\{ingress="default\/apps"\} \d+/);
  assert.match(text, /skiff_ingress_open_connections\{listener="http"\} \d+/);
});
