// The ingress's own forwarding path against real sockets on 127.0.0.1: a node:http backend that
// counts its connections (upstream keep-alive, Connection: close, bodies both ways, HEAD, 100
// Continue, client pipelining) and a scripted raw TCP backend for the answers node:http would
// never send (chunked with trailers, 1xx, close-delimited, malformed, cut short, idle close).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import {
  type AddressInfo,
  connect,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Ingress } from '../../controlplane/shared/kube/index.ts';
import type { IngressProxy } from '../../agent/ingress/proxy.ts';
import { loopbackRoutes, startLoopbackIngress } from '../helpers/loopback-ingress.ts';

const dir = mkdtempSync(join(tmpdir(), 'ing-fwd-'));
let proxy: IngressProxy;
let port = 0;
let httpBackend: Server;
let rawBackend: NetServer;
/** The /big and /huge answers: random bytes, so a body put together from the wrong reads cannot
 * pass. /huge is more than the kernel's socket buffers on both sides of the proxy hold. */
const BIG = randomBytes(3 * 1024 * 1024);
const HUGE = randomBytes(24 * 1024 * 1024);
/** Connections the node:http backend accepted so far. */
let backendConns = 0;
/** Requests for /hold the node:http backend got (it never answers them). */
let holds = 0;
/** The scripted backend's answer per request path; `/once` is answered once per connection, then it is dropped. */
const scripts: Record<string, string> = {
  '/chunked':
    'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nx-t: 1\r\n\r\n',
  '/interim': 'HTTP/1.1 103 Early Hints\r\nlink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfinal',
  '/eof': 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nto the end',
  '/malformed': 'HTTP/1.1 200 OK\r\nx-a: a\r\n folded\r\ncontent-length: 0\r\n\r\n',
  '/short': 'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this',
  // A good head and chunk, then a chunk size that is not hex: all in one write.
  '/bad-chunk': 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n',
  '/say-close': 'HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok',
  '/obs': 'HTTP/1.1 200 OK\r\nx-obs: caf\xe9\r\ncontent-length: 2\r\n\r\nok',
  '/once': 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok',
  '/bad-status': 'HTTP/1.1 2x0 OK\r\ncontent-length: 0\r\n\r\n',
};
/** The proxy's local port of the upstream connection that last got the /split answer. */
let splitFrom = 0;
let rawPort = 0;
let rawConns = 0;
/** Requests the scripted backend got, by path. */
const rawRequests: Record<string, number> = {};
/** The upstream side of the last /stream request: its head is sent, the body is the test's to write. */
let streamUpstream: Promise<Socket> = Promise.resolve(null as never);
let streamArrived: (s: Socket) => void = () => {};

const prefix = (host: string, service: string) => ({
  host,
  http: {
    paths: [{ path: '/', pathType: 'Prefix' as const, backend: { service: { name: service, port: { number: 80 } } } }],
  },
});

function table(httpPort: number, rawPort: number) {
  const ing: Ingress = {
    metadata: { name: 'fwd', namespace: 'default', annotations: { 'skiff.io/proxy-body-size': '0' } },
    spec: { rules: [prefix('http.test', 'h'), prefix('raw.test', 'r')] },
  };
  const slow: Ingress = {
    metadata: { name: 'slow', namespace: 'default', annotations: { 'skiff.io/proxy-read-timeout': '300ms' } },
    spec: { rules: [prefix('slow.test', 'h')] },
  };
  return loopbackRoutes([ing, slow], { h: httpPort, r: rawPort });
}

before(async () => {
  httpBackend = createServer((req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
    });
    req.on('end', () => {
      if (req.url === '/hold') {
        holds++;
        return; // never answered: the client's later pipelined responses wait
      }
      if (req.url === '/big' || req.url === '/huge') {
        const body = req.url === '/big' ? BIG : HUGE;
        res.setHeader('content-length', String(body.length));
        res.end(body);
        return;
      }
      if (req.url === '/close') res.setHeader('connection', 'close');
      res.setHeader('content-type', 'application/json');
      const body: Record<string, unknown> = {
        url: req.url,
        method: req.method,
        got: n,
        te: req.headers['transfer-encoding'] ?? '',
      };
      if (req.url === '/echo-headers') body.headers = req.headers;
      if (req.url === '/echo-raw') body.raw = req.rawHeaders;
      res.end(JSON.stringify(body));
    });
  });
  httpBackend.on('connection', () => backendConns++);
  rawBackend = createNetServer((s) => {
    rawConns++;
    let head = '';
    let answered = 0;
    s.on('data', (c) => {
      head += c.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const path = head.split(' ')[1];
      rawRequests[path] = (rawRequests[path] ?? 0) + 1;
      head = head.slice(end + 4);
      const answer = Buffer.from(scripts[path] ?? 'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n', 'latin1');
      if (path === '/early') {
        // Stops reading the request body, answers once the proxy's writes to it have backed up.
        s.pause();
        setTimeout(() => s.end('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nearly'), 300);
      } else if (path === '/split') {
        // A 50000-byte chunk, then later 20000 and 10000 bytes and the end in one write: the
        // client side's writes report backpressure (64 KiB) only while the last read is parsed.
        splitFrom = s.remotePort ?? 0;
        s.write(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nc350\r\n${'a'.repeat(50000)}\r\n`);
        setTimeout(() => s.write(`4e20\r\n${'b'.repeat(20000)}\r\n2710\r\n${'c'.repeat(10000)}\r\n0\r\n\r\n`), 100);
      } else if (path === '/stream') {
        s.write('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n');
        streamArrived(s);
      } else if (path === '/eof' || path === '/short') s.end(answer);
      else if (path === '/once' && answered > 0) s.destroy();
      else s.write(answer);
      answered++;
    });
    s.on('error', () => {});
  });
  const listen = (s: Server | NetServer) =>
    new Promise<number>((ok) => s.listen(0, '127.0.0.1', () => ok((s.address() as AddressInfo).port)));
  const [hp, rp] = [await listen(httpBackend), await listen(rawBackend)];
  rawPort = rp;
  ({ proxy } = await startLoopbackIngress(dir));
  proxy.setTable(table(hp, rp));
  port = proxy.ports().http;
});

after(async () => {
  rmSync(dir, { recursive: true, force: true }); // first: a close that throws must not leave it
  await proxy.stop();
  httpBackend.closeAllConnections();
  await new Promise((ok) => httpBackend.close(ok));
  await new Promise((ok) => rawBackend.close(ok));
});

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request through the proxy with a deadline; `chunked` sends the body without a Content-Length. */
function send(
  host: string,
  path: string,
  o: { method?: string; body?: Buffer; chunked?: boolean; headers?: Record<string, string> } = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host, ...o.headers };
    if (o.body && !o.chunked) headers['content-length'] = String(o.body.length);
    const req = request(
      { host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers, agent: false, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${host}${path}: no answer within 10 s`)));
    req.on('error', reject);
    if (o.body && o.chunked) {
      // Several writes, so the body really goes out in chunks.
      for (let i = 0; i < o.body.length; i += 64 * 1024) req.write(o.body.subarray(i, i + 64 * 1024));
      req.end();
    } else req.end(o.body);
  });
}

/** Raw bytes to the proxy; resolves with everything read once `done` says so or the proxy closes. */
function raw(data: string, done: (out: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`raw: incomplete after 10 s: ${JSON.stringify(out.slice(0, 200))}`));
    }, 10_000);
    let out = '';
    const finish = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(out);
    };
    s.on('data', (c) => {
      out += c.toString('latin1');
      if (done(out)) finish();
    });
    s.on('close', finish);
    s.on('error', () => {});
    s.write(data, 'latin1');
  });
}

test('upstream connections are kept alive and reused; Connection: close from the upstream is honoured', async () => {
  const before = backendConns;
  for (let i = 0; i < 5; i++) assert.equal((await send('http.test', `/k${i}`)).status, 200);
  assert.equal(backendConns - before, 1, 'five sequential requests share one upstream connection');
  const c = await raw('GET /close HTTP/1.1\r\nhost: http.test\r\n\r\n', (o) => o.includes('"url":"/close"'));
  assert.match(c, /^HTTP\/1.1 200 OK\r\n/);
  assert.match(c, /\r\nconnection: keep-alive\r\n/, 'the client connection keeps its own keep-alive');
  const afterClose = backendConns;
  assert.equal((await send('http.test', '/next')).status, 200);
  assert.equal(backendConns - afterClose, 1, 'the connection the upstream closed is not reused');
  // An upstream that says close but keeps the connection open: the proxy still does not reuse it.
  const raw0 = rawConns;
  for (let i = 0; i < 2; i++) assert.equal((await send('raw.test', '/say-close')).body.toString(), 'ok');
  assert.equal(rawConns - raw0, 2, 'a connection announced as closing is not reused');
});

test('bodies both ways: CL and chunked uploads, downloads (one held back), HEAD, 100 Continue', async () => {
  const big = Buffer.alloc(2 * 1024 * 1024 + 7, 'u');
  const cl = JSON.parse((await send('http.test', '/up', { method: 'POST', body: big })).body.toString());
  assert.deepEqual([cl.got, cl.te], [big.length, '']);
  const ch = JSON.parse((await send('http.test', '/up', { method: 'PUT', body: big, chunked: true })).body.toString());
  assert.deepEqual([ch.got, ch.te], [big.length, 'chunked'], 'a chunked upload stays chunked upstream');
  const down = await send('http.test', '/big');
  assert.ok(down.body.equals(BIG), 'the download arrives byte for byte');
  // The proxy's upstream connections read into one shared buffer. A client that stops reading
  // leaves part of its body queued in the proxy while another download's reads go on.
  const held = new Promise<Buffer>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/huge', headers: { host: 'http.test' }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.once('data', (c: Buffer) => {
          chunks.push(c);
          res.pause();
          send('http.test', '/big')
            .then((other) => {
              assert.ok(other.body.equals(BIG), 'the download that went on arrives byte for byte');
              res.on('data', (d: Buffer) => chunks.push(d));
              res.resume();
            })
            .catch(reject);
        });
        res.on('end', () => resolve(Buffer.concat(chunks)));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
  assert.ok((await held).equals(HUGE), 'the download held back arrives byte for byte');
  const head = await send('http.test', '/big', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String(3 * 1024 * 1024));
  assert.equal(head.body.length, 0);
  const out = await raw(
    'POST /cont HTTP/1.1\r\nhost: http.test\r\nexpect: 100-continue\r\ncontent-length: 3\r\n\r\nabc',
    (o) => o.includes('"got":3'),
  );
  assert.match(
    out,
    /^HTTP\/1.1 100 Continue\r\n\r\nHTTP\/1.1 200 OK\r\n/,
    'one 100 (the upstream one is not repeated)',
  );
});

test('client pipelining: two requests in one write are answered in order on the same connection', async () => {
  const out = await raw(
    'GET /p1 HTTP/1.1\r\nhost: http.test\r\n\r\nGET /p2 HTTP/1.1\r\nhost: http.test\r\nconnection: close\r\n\r\n',
    (o) => o.includes('/p2'),
  );
  const first = out.indexOf('"url":"/p1"');
  assert.ok(first > 0 && out.indexOf('"url":"/p2"') > first, out);
  assert.equal(out.match(/HTTP\/1.1 200 OK/g)?.length, 2);
});

test('upstream framing: chunked with trailers, interim 1xx skipped, close-delimited body', async () => {
  const c = await send('raw.test', '/chunked');
  assert.equal(c.status, 200);
  assert.equal(c.body.toString(), 'hello world');
  assert.equal(c.headers['x-t'], undefined, 'trailers are not passed on');
  const i = await send('raw.test', '/interim');
  assert.equal(i.status, 200);
  assert.equal(i.body.toString(), 'final');
  const e = await send('raw.test', '/eof');
  assert.equal(e.status, 200);
  assert.equal(e.body.toString(), 'to the end');
});

test('a malformed upstream answer is a 502; one cut short ends the client response early', async () => {
  const m = await send('raw.test', '/malformed');
  assert.equal(m.status, 502);
  await assert.rejects(send('raw.test', '/short'), /aborted|socket hang up|ECONNRESET/);
});

test('an upstream body that breaks in the read that brought its head is a 502 on either path', async () => {
  const fast = await send('raw.test', '/bad-chunk');
  assert.equal(fast.status, 502);
  assert.match(fast.body.toString(), /bad gateway/);
  // A request with a body goes through node:http.
  const slow = await send('raw.test', '/bad-chunk', { method: 'POST', body: Buffer.from('x=1') });
  assert.equal(slow.status, 502);
  assert.match(slow.body.toString(), /bad gateway/);
});

/** A GET of /stream: resolves with the response once its head arrived, and the upstream socket. */
function openStream(): Promise<{ res: IncomingMessage; upstream: Socket }> {
  streamUpstream = new Promise((ok) => {
    streamArrived = ok;
  });
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/stream', headers: { host: 'raw.test' }, agent: false, timeout: 10_000 },
      (res) => streamUpstream.then((upstream) => resolve({ res, upstream })),
    );
    req.on('timeout', () => req.destroy(new Error('/stream: no response head within 10 s')));
    req.on('error', reject);
    req.end();
  });
}

test('a head sent alone (an event stream) reaches the client before any body; a body broken later resets', async () => {
  const a = await openStream();
  assert.equal(a.res.statusCode, 200);
  assert.equal(a.res.headers['content-type'], 'text/event-stream');
  const body = new Promise<string>((ok, fail) => {
    let text = '';
    a.res.on('data', (c) => (text += c));
    a.res.on('end', () => ok(text));
    a.res.on('error', fail);
  });
  a.upstream.write('6\r\ndata:1\r\n0\r\n\r\n');
  assert.equal(await body, 'data:1');

  const b = await openStream();
  assert.equal(b.res.statusCode, 200);
  const broken = new Promise<void>((ok, fail) => {
    b.res.on('end', () => fail(new Error('a broken body ended as if complete')));
    b.res.on('error', () => ok());
    b.res.on('aborted', () => ok());
    b.res.resume();
  });
  b.upstream.write('zz\r\n');
  await broken;
});

test('a malformed answer on a reused upstream connection is a 502, not a resend', async () => {
  assert.equal((await send('raw.test', '/chunked')).status, 200); // leaves a pooled connection
  const before = rawRequests['/bad-status'] ?? 0;
  assert.equal((await send('raw.test', '/bad-status')).status, 502);
  assert.equal(rawRequests['/bad-status'] - before, 1, 'the upstream got the request once');
});

test('a request that meets a pooled connection closed without an answer is resent on a new one', async () => {
  const before = rawConns;
  for (let n = 0; n < 3; n++) {
    const r = await send('raw.test', '/once');
    assert.equal(r.status, 200, `GET ${n}`);
    assert.equal(r.body.toString(), 'ok');
  }
  assert.equal(rawConns - before, 3, 'each resend took a new connection');
  const post = await send('raw.test', '/once', { method: 'POST', body: Buffer.from('x') });
  assert.equal(post.status, 502, 'a POST is not resent');
});

test('fast path and node:http on one connection: a body hands over mid-connection, answers in order', async () => {
  const out = await raw(
    'GET /f1 HTTP/1.1\r\nhost: http.test\r\n\r\n' +
      'POST /f2 HTTP/1.1\r\nhost: http.test\r\ncontent-length: 4\r\n\r\nbody' +
      'GET /f3 HTTP/1.1\r\nhost: http.test\r\nconnection: close\r\n\r\n',
    (o) => o.includes('"url":"/f3"'),
  );
  const at = ['/f1', '/f2', '/f3'].map((u) => out.indexOf(`"url":"${u}"`));
  assert.ok(at[0] > 0 && at[1] > at[0] && at[2] > at[1], out);
  assert.match(out, /"url":"\/f2","method":"POST","got":4/);
  assert.equal(out.match(/HTTP\/1.1 200 OK/g)?.length, 3);
});

test('the forwarding fields are the same on the fast path and through node:http', async () => {
  const headers = {
    'x-forwarded-for': '192.0.2.7',
    'x-request-id': 'same-id',
    connection: 'x-secret',
    'x-secret': '1',
  };
  const fast = await send('http.test', '/echo-headers', { headers });
  const slow = await send('http.test', '/echo-headers', { method: 'POST', body: Buffer.from('x'), headers });
  const pick = (r: Res) => {
    const h = JSON.parse(r.body.toString()).headers;
    return [
      'x-forwarded-for',
      'x-forwarded-proto',
      'x-forwarded-host',
      'x-forwarded-port',
      'x-real-ip',
      'x-request-id',
      'x-secret',
    ].map((n) => h[n]);
  };
  assert.deepEqual(pick(fast), [
    '192.0.2.7, 127.0.0.1',
    'http',
    'http.test',
    String(port),
    '127.0.0.1',
    'same-id',
    undefined,
  ]);
  assert.deepEqual(pick(fast), pick(slow));
});

test('repeated request fields reach the upstream the same way on both paths: each line as sent', async () => {
  const fields =
    'x-dup: a\r\nuser-agent: one\r\ncookie: c=1\r\nx-dup: b\r\nuser-agent: two\r\ncookie: d=2\r\n' +
    'authorization: Basic eA==\r\nauthorization: Basic eQ==\r\nconnection: close\r\n';
  const seen = async (req: string) => {
    const out = await raw(req, () => false);
    const body = out.slice(out.indexOf('\r\n\r\n') + 4);
    const rawHeaders: string[] = JSON.parse(body.slice(body.indexOf('{'), body.lastIndexOf('}') + 1)).raw;
    const lines: string[] = [];
    for (let i = 0; i < rawHeaders.length; i += 2)
      if (!/^(content-length|x-request-id|transfer-encoding)$/i.test(rawHeaders[i]))
        lines.push(`${rawHeaders[i].toLowerCase()}: ${rawHeaders[i + 1]}`);
    return lines;
  };
  const fast = await seen(`GET /echo-raw HTTP/1.1\r\nhost: http.test\r\n${fields}\r\n`);
  const slow = await seen(`POST /echo-raw HTTP/1.1\r\nhost: http.test\r\ncontent-length: 1\r\n${fields}\r\nx`);
  const want = ['x-dup: a', 'user-agent: one', 'cookie: c=1', 'x-dup: b', 'user-agent: two', 'cookie: d=2'];
  for (const w of [...want, 'authorization: Basic eA==', 'authorization: Basic eQ==']) assert.ok(fast.includes(w), w);
  assert.deepEqual(slow, fast);
});

test('Connection cannot list Content-Length or Host away: the body stays a body, not a smuggled request', async () => {
  const smuggled = 'GET /admin HTTP/1.1\r\nhost: http.test\r\nx-real-ip: 10.0.0.1\r\n\r\n';
  for (const listed of ['content-length', 'host', 'Content-Length, Host']) {
    const out = await raw(
      `POST /echo-raw HTTP/1.1\r\nhost: http.test\r\nconnection: ${listed}, close\r\n` +
        `content-length: ${smuggled.length}\r\n\r\n${smuggled}`,
      () => false,
    );
    assert.match(out, /^HTTP\/1\.1 200 /, listed);
    const body = out.slice(out.indexOf('\r\n\r\n') + 4);
    const rawHeaders: string[] = JSON.parse(body.slice(body.indexOf('{'), body.lastIndexOf('}') + 1)).raw;
    const values = (n: string) => rawHeaders.filter((_, i) => i % 2 === 1 && rawHeaders[i - 1].toLowerCase() === n);
    assert.deepEqual(values('content-length'), [String(smuggled.length)], listed);
    assert.deepEqual(values('host'), ['http.test'], listed);
  }
});

test('a request with two Host fields is refused with 400 (RFC 9112 §3.2), not routed by one of them', async () => {
  const out = await raw(
    'GET / HTTP/1.1\r\nhost: http.test\r\nhost: raw.test\r\nconnection: close\r\n\r\n',
    () => false,
  );
  assert.match(out, /^HTTP\/1\.1 400 /);
});

test('on a keep-alive client connection, a chunked or close-delimited upstream body goes out chunked', async () => {
  const out = await raw(
    'GET /chunked HTTP/1.1\r\nhost: raw.test\r\n\r\nGET /eof HTTP/1.1\r\nhost: raw.test\r\n\r\n',
    (o) => o.split('\r\n0\r\n\r\n').length === 3,
  );
  const [first, second] = out.split('HTTP/1.1 200 OK\r\n').slice(1);
  for (const r of [first, second]) {
    assert.match(r, /(^|\r\n)transfer-encoding: chunked\r\n/i);
    assert.match(r, /(^|\r\n)connection: keep-alive\r\n/i);
  }
  const body = (r: string) => {
    let rest = r.slice(r.indexOf('\r\n\r\n') + 4);
    let text = '';
    for (;;) {
      const nl = rest.indexOf('\r\n');
      const n = Number.parseInt(rest.slice(0, nl), 16);
      if (n === 0) return text;
      text += rest.slice(nl + 2, nl + 2 + n);
      rest = rest.slice(nl + 2 + n + 2);
    }
  };
  assert.equal(body(first), 'hello world');
  assert.equal(body(second), 'to the end');
});

test('a client that half-closes after its request gets the answer and then the end of the connection', async () => {
  const out = await new Promise<string>((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no close within 5 s after the answer: ${JSON.stringify(got.slice(0, 80))}`));
    }, 5_000);
    s.on('data', (c) => {
      got += c.toString('latin1');
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    s.on('error', () => {});
    s.end('GET /half HTTP/1.1\r\nhost: http.test\r\n\r\n');
  });
  assert.match(out, /^HTTP\/1.1 200 OK\r\n/);
  assert.match(out, /"url":"\/half"/);
  assert.match(out, /\r\nconnection: close\r\n/);
});

test('field bytes above 0x7f (obs-text) pass both ways unchanged, not re-encoded', async () => {
  const out = await raw('GET /obs HTTP/1.1\r\nhost: raw.test\r\nconnection: close\r\n\r\n', (o) => o.endsWith('ok'));
  assert.match(out, /\r\nx-obs: caf\xe9\r\n/, 'one byte 0xe9, not UTF-8 0xc3 0xa9');
  const echo = await raw(
    'GET /echo-headers HTTP/1.1\r\nhost: http.test\r\nx-in: caf\xe9\r\nconnection: close\r\n\r\n',
    (o) => o.includes('"x-in"'),
  );
  // The backend (node:http) reads field bytes as latin1 and JSON-encodes them as UTF-8 text.
  assert.match(Buffer.from(echo, 'latin1').toString('utf8'), /"x-in":"caf\u00e9"/);
});

/** Waits for `cond`, polling, with a deadline. */
async function waitFor(cond: () => boolean, what: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((ok) => setTimeout(ok, 10));
  }
}

/** The local port of the most recently idle pooled connection to the scripted backend (the next one taken). */
function lastIdleToRaw(): number | undefined {
  const pool = (
    proxy as unknown as { pool: { endpoints: Map<string, { idle: { socket: { localPort?: number } }[] }> } }
  ).pool;
  return pool.endpoints.get(`127.0.0.1:${rawPort}`)?.idle.at(-1)?.socket.localPort;
}

test('an upstream connection whose response ended while the client held it back is pooled reading', async () => {
  // Client A: a request node:http holds (never answered), then a pipelined one whose answer is
  // queued behind it, so its writes report backpressure while the upstream finishes the response.
  const a = connect(port, '127.0.0.1');
  a.on('error', () => {});
  splitFrom = 0;
  a.write(
    'POST /hold HTTP/1.1\r\nhost: http.test\r\ncontent-length: 1\r\n\r\nx' +
      'GET /split HTTP/1.1\r\nhost: raw.test\r\n\r\n',
  );
  try {
    await waitFor(() => splitFrom > 0 && lastIdleToRaw() === splitFrom, 'the /split connection idle in the pool');
    // Client B takes that connection next and must get its answer (not wait for A to drain).
    const b = await send('raw.test', '/obs', { headers: { connection: 'close' } });
    assert.equal(b.body.toString(), 'ok');
  } finally {
    a.destroy();
  }
});

test('an absolute-form target is routed and forwarded by its own authority and path (RFC 9112 §3.2.2)', async () => {
  // The Host field says raw.test; the target names http.test, which wins, and goes upstream in origin form.
  const out = await raw(
    'GET http://HTTP.test/echo-headers HTTP/1.1\r\nhost: raw.test\r\nconnection: close\r\n\r\n',
    (o) => o.includes('"headers"'),
  );
  assert.match(out, /^HTTP\/1.1 200 OK\r\n/);
  assert.match(out, /"url":"\/echo-headers"/);
  assert.match(out, /"host":"http.test"/);
  const other = await raw('GET ftp://http.test/ HTTP/1.1\r\nhost: http.test\r\n\r\n', (o) => o.includes('\r\n\r\n'));
  assert.match(other, /^HTTP\/1.1 400 /, 'a scheme other than http(s) is refused');
});

test('a read timeout on a reused upstream connection is a 504, not a resend of the request', async () => {
  assert.equal((await send('slow.test', '/warm')).status, 200, 'leaves a used connection in the pool');
  const before = holds;
  const r = await send('slow.test', '/hold');
  assert.equal(r.status, 504);
  assert.equal(holds - before, 1, 'the upstream got the request once');
});

test('a target with dot segments is refused with 400 on either path, not routed by its unresolved prefix', async () => {
  for (const target of ['/x/../echo-headers', '/x/%2E%2e/echo-headers']) {
    const fast = await raw(`GET ${target} HTTP/1.1\r\nhost: http.test\r\n\r\n`, (o) => o.includes('\r\n\r\n'));
    assert.match(fast, /^HTTP\/1.1 400 /, target);
    const slow = await raw(`POST ${target} HTTP/1.1\r\nhost: http.test\r\ncontent-length: 1\r\n\r\nx`, (o) =>
      o.includes('\r\n\r\n'),
    );
    assert.match(slow, /^HTTP\/1.1 400 /, target);
  }
});

test('a body sent to HEAD (or beyond its length) still answers; the surplus goes with its connection', async () => {
  const head = await raw('HEAD /obs HTTP/1.1\r\nhost: raw.test\r\nconnection: close\r\n\r\n', () => false);
  assert.match(head, /^HTTP\/1.1 200 OK\r\n/);
  assert.match(head, /\r\ncontent-length: 2\r\n/);
  assert.ok(head.endsWith('\r\n\r\n'), `no body to HEAD: ${JSON.stringify(head)}`);
  const get = await send('raw.test', '/obs');
  assert.equal(get.body.toString(), 'ok', 'the next request is answered');
});

test('an upstream answer before the request body ended: the rest is read, the next request answered', async () => {
  // 24 MiB, more than the loopback buffers hold, so the body is held back when the answer comes.
  const size = 24 * 1024 * 1024;
  const s = connect(port, '127.0.0.1');
  s.on('error', () => {});
  let out = '';
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`second answer missing: ${JSON.stringify(out.slice(0, 300))}`)),
      10_000,
    );
    s.on('data', (c) => {
      out += c.toString('latin1');
      if (out.endsWith('ok')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  s.write(`POST /early HTTP/1.1\r\nhost: raw.test\r\ncontent-length: ${size}\r\n\r\n`);
  s.write(Buffer.alloc(size, 'x'));
  s.write('GET /obs HTTP/1.1\r\nhost: raw.test\r\nconnection: close\r\n\r\n');
  try {
    await done;
  } finally {
    s.destroy();
  }
  assert.match(out, /^HTTP\/1.1 200 OK\r\n[\s\S]*\r\n\r\nearlyHTTP\/1.1 200 OK\r\n[\s\S]*ok$/);
});
