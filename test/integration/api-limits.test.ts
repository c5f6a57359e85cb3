// Slow and malformed clients: a partial body times out with a 408 Status, a slow header sender
// neither blocks others nor stays forever, requests in flight and connections per client are
// bounded, the parser's own refusals carry Status bodies, and impersonation is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type TLSSocket } from 'node:tls';
import { credentials, startTestServer } from '../helpers/server.ts';
import { parseRaw, raw, rawBytes, tlsContext, type Base } from '../helpers/raw.ts';
import { limits } from '../../controlplane/api/guard.ts';

function open(base: Base): Promise<TLSSocket> {
  const u = new URL(base.server);
  return new Promise((resolve, reject) => {
    const s = connect(
      { host: u.hostname, port: Number(u.port), secureContext: tlsContext(base.ca), servername: 'localhost' },
      () => resolve(s),
    );
    s.on('error', reject);
  });
}

/** Collects what arrives on a socket until it closes or the deadline passes. */
function collect(s: TLSSocket, ms: number): Promise<{ text: string; closed: boolean; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const done = (closed: boolean) => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed, ms: Date.now() - t0 });
    };
    const timer = setTimeout(() => done(false), ms);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('close', () => done(true));
    s.on('error', () => {});
  });
}

function assertStatus(text: string, code: number, label: string) {
  const r = parseRaw(text);
  assert.equal(r.status, code, `${label}: ${text.slice(0, 300)}`);
  const st = JSON.parse(r.body);
  assert.equal(st.kind, 'Status', label);
  assert.equal(st.code, code, label);
  assert.ok(st.details, label);
}

test('slow clients time out, limits hold, parser errors and impersonation get Statuses', async () => {
  const saved = { ...limits };
  Object.assign(limits, { headersMs: 1500, bodyIdleMs: 1000, maxInflight: 6, maxConnsPerClient: 40 });
  const s = await startTestServer();
  const base = credentials(s.kubeconfig);
  const auth = `Authorization: Bearer ${base.token}\r\n`;
  try {
    // A body declared as 100 bytes that stops after 10: 408 Status, then the connection closes.
    const partial = await open(base);
    const got = collect(partial, 10_000);
    partial.write(
      `POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: ` +
        `application/json\r\nContent-Length: 100\r\n\r\n{"metadata"`,
    );
    const p = await got;
    assert.ok(p.closed, 'the connection was closed');
    assertStatus(p.text, 408, 'partial body');
    assert.ok(p.ms < 5000, `answered after the idle bound (${p.ms} ms)`);

    // A slow header sender: others are served meanwhile, and it is cut off after the bound.
    const slow = await open(base);
    const slowGot = collect(slow, 10_000);
    slow.write('GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\n');
    const t0 = Date.now();
    assert.equal((await raw(base, 'GET', '/readyz', undefined, {}, 2000)).status, 200);
    assert.ok(Date.now() - t0 < 1000, 'others are not blocked');
    const sl = await slowGot;
    assert.ok(sl.closed && sl.ms < 6000, `slow headers cut off (${sl.ms} ms)`);
    if (sl.text) assertStatus(sl.text, 408, 'slow headers');

    // Requests in flight: six stalled bodies fill the server; the seventh request gets a 429.
    const stalled = await Promise.all(Array.from({ length: 6 }, () => open(base)));
    const stalledDone = stalled.map((c) => collect(c, 10_000));
    for (const c of stalled)
      c.write(`PUT /api/v1/namespaces/default/configmaps/x HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 50\r\n\r\n{`);
    await new Promise((r) => setTimeout(r, 300));
    const busy = await raw(base, 'GET', '/api/v1/namespaces');
    assert.equal(busy.status, 429, busy.body);
    assert.equal(busy.json().reason, 'TooManyRequests');
    assert.equal(busy.headers['retry-after'], '1');
    assert.equal((await raw(base, 'GET', '/readyz')).status, 200, 'health checks are not counted');
    await Promise.all(stalledDone);
    assert.equal((await raw(base, 'GET', '/api/v1/namespaces')).status, 200, 'slots are given back');

    // Connections per client address.
    const conns = await Promise.all(Array.from({ length: 40 }, () => open(base)));
    const extra = await open(base);
    const ex = await collect(extra, 5000);
    assert.ok(ex.closed, 'the connection over the limit is closed');
    assertStatus(ex.text, 429, 'connection limit');
    for (const c of conns) c.destroy();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await raw(base, 'GET', '/readyz')).status, 200);

    // What Node's parser refuses still gets a Status where HTTP allows an answer.
    const parserCases: [string, Buffer | string, number][] = [
      ['long URL', `GET /api/v1/namespaces?x=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 431],
      ['long header', `GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`, 431],
      ['unknown method', 'FROB /api/v1/namespaces HTTP/1.1\r\nHost: x\r\n\r\n', 405],
      ['lower-case method', 'get /api/v1/namespaces HTTP/1.1\r\nHost: x\r\n\r\n', 405],
      ['negative length', 'POST /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', 400],
      [
        'length and chunked',
        'POST /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: ' +
          'chunked\r\n\r\n0\r\n\r\n',
        400,
      ],
      [
        'raw invalid UTF-8 in the path',
        Buffer.concat([
          Buffer.from('GET /api/v1/namespaces/'),
          Buffer.from([0xff, 0xfe]),
          Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n'),
        ]),
        400,
      ],
      ['CONNECT', 'CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n', 405],
    ];
    for (const [label, bytes, code] of parserCases) assertStatus(await rawBytes(base, bytes, 5000), code, label);

    // Impersonation is refused rather than ignored.
    for (const h of ['Impersonate-User', 'Impersonate-Group', 'Impersonate-Uid', 'Impersonate-Extra-Scopes']) {
      const r = await raw(base, 'GET', '/api/v1/namespaces', undefined, { [h]: 'nobody' });
      assert.equal(r.status, 403, `${h}: ${r.body}`);
      assert.equal(r.json().reason, 'Forbidden');
    }
    const k = await s.kubectl(['--as=nobody', 'get', 'namespaces'], { timeout: 30_000 });
    assert.notEqual(k.exitCode, 0);
    assert.match(k.stderr, /Forbidden/);
  } finally {
    await s.stop();
    Object.assign(limits, saved);
  }
});
