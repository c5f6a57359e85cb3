// The ingress's upstream HTTP/1.1 framing as pure functions: the request head it writes, the
// response parser (every response also fed one byte at a time, so no split point changes the
// outcome), the refusals, and the hop-by-hop filter for response fields.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  type FastRequest,
  dotSegment,
  fastRequest,
  H1Error,
  ResponseParser,
  type ResponseHead,
} from '../../agent/ingress/h1.ts';
import { forwardHead, stripHopByHopList } from '../../agent/ingress/headers.ts';

interface Parsed {
  heads: ResponseHead[];
  body: string;
  ended: number;
}

/** Feeds `wire` (whole, or byte by byte) as the answer to one `method` request; `eof` closes after. */
function parse(wire: string, method = 'GET', bytewise = false, eof = false): Parsed {
  const p = new ResponseParser(256);
  const out: Parsed = { heads: [], body: '', ended: 0 };
  p.expect(method, {
    head: (h) => out.heads.push(h),
    body: (b) => {
      out.body += b.toString('latin1');
    },
    end: () => out.ended++,
  });
  const buf = Buffer.from(wire, 'latin1');
  if (bytewise) for (let i = 0; i < buf.length; i++) p.feed(buf.subarray(i, i + 1));
  else p.feed(buf);
  if (eof) p.eof();
  return out;
}

const ok: [string, string, string, Partial<ResponseHead>, string, boolean?][] = [
  // name, method, wire, head fields, body, eof
  ['content-length', 'GET', 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: b\r\n\r\nhello', { status: 200 }, 'hello'],
  ['reason kept', 'GET', 'HTTP/1.1 201 Made It\r\ncontent-length: 0\r\n\r\n', { reason: 'Made It' }, ''],
  ['no reason', 'GET', 'HTTP/1.1 200\r\ncontent-length: 1\r\n\r\nx', { reason: '' }, 'x'],
  [
    'chunked with extensions and trailers',
    'GET',
    'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n' +
      '5;a=b\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nx-t: 1\r\n\r\n',
    { status: 200 },
    'hello world',
  ],
  ['chunked, empty body', 'GET', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n', {}, ''],
  [
    'chunked wins over content-length, which is dropped, and the connection closes',
    'GET',
    'HTTP/1.1 200 OK\r\ncontent-length: 99\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
    // Both framings on one response hint at smuggling: the upstream connection is not reused.
    { headers: ['transfer-encoding', 'chunked'], close: true },
    'ok',
  ],
  ['HEAD: no body despite content-length', 'HEAD', 'HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n', {}, ''],
  ['204 has no body', 'GET', 'HTTP/1.1 204 No Content\r\n\r\n', { status: 204 }, ''],
  ['304 has no body', 'GET', 'HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n', { status: 304 }, ''],
  [
    'interim 100 and 103 skipped',
    'POST',
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n' +
      'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok',
    { status: 200 },
    'ok',
  ],
  ['close-delimited body', 'GET', 'HTTP/1.1 200 OK\r\n\r\nuntil the end', { close: true }, 'until the end', true],
  ['HTTP/1.0 closes', 'GET', 'HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\nx', { close: true }, 'x'],
  [
    'HTTP/1.0 keep-alive',
    'GET',
    'HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 1\r\n\r\nx',
    { close: false },
    'x',
  ],
  [
    'Connection: close',
    'GET',
    'HTTP/1.1 200 OK\r\nconnection: Close\r\ncontent-length: 1\r\n\r\nx',
    { close: true },
    'x',
  ],
  // A repeated Content-Length goes on as one value: a client's parser (llhttp) refuses a list or a repeat.
  [
    'same content-length twice',
    'GET',
    'HTTP/1.1 200 OK\r\ncontent-length: 1, 1\r\n\r\nx',
    { headers: ['content-length', '1'] },
    'x',
  ],
  [
    'same content-length field twice',
    'GET',
    'HTTP/1.1 200 OK\r\ncontent-length: 1\r\nx-a: b\r\ncontent-length: 1\r\n\r\nx',
    { headers: ['content-length', '1', 'x-a', 'b'] },
    'x',
  ],
  ['OWS around values trimmed', 'GET', 'HTTP/1.1 200 OK\r\nx-a: \t v \t\r\ncontent-length: 0\r\n\r\n', {}, ''],
];

test('responses parse the same whole and byte by byte', () => {
  for (const [name, method, wire, want, body, eof] of ok)
    for (const bytewise of [false, true]) {
      const r = parse(wire, method, bytewise, eof);
      assert.equal(r.heads.length, 1, name);
      for (const [k, v] of Object.entries(want)) assert.deepEqual(r.heads[0][k as keyof ResponseHead], v, name);
      assert.equal(r.body, body, name);
      assert.equal(r.ended, 1, `${name}: ended once`);
    }
  const h = parse('HTTP/1.1 200 OK\r\nX-A: \t v \t\r\nSet-Cookie: a\r\nset-cookie: b\r\ncontent-length: 0\r\n\r\n');
  assert.deepEqual(h.heads[0].headers, ['x-a', 'v', 'set-cookie', 'a', 'set-cookie', 'b', 'content-length', '0']);
});

test('a parser carries the responses of one connection in turn', () => {
  const p = new ResponseParser();
  const bodies: string[] = [];
  for (const n of [1, 2]) {
    p.expect('GET', { head: () => {}, body: (b) => bodies.push(b.toString()), end: () => {} });
    assert.equal(p.idle, true);
    p.feed(Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n${n}`));
    assert.equal(p.done, true);
  }
  assert.deepEqual(bodies, ['1', '2']);
});

const refused: [string, string, string?, boolean?][] = [
  ['not HTTP', 'HTTP/2 200 OK\r\n\r\n'],
  ['bad status', 'HTTP/1.1 20 OK\r\n\r\n'],
  ['status below 100', 'HTTP/1.1 099 Hm\r\n\r\n'],
  ['control character in reason', 'HTTP/1.1 200 O\x01K\r\ncontent-length: 0\r\n\r\n'],
  ['obs-fold', 'HTTP/1.1 200 OK\r\nx-a: a\r\n b\r\ncontent-length: 0\r\n\r\n'],
  ['space before colon', 'HTTP/1.1 200 OK\r\nx-a : a\r\ncontent-length: 0\r\n\r\n'],
  ['no colon', 'HTTP/1.1 200 OK\r\nx-a\r\ncontent-length: 0\r\n\r\n'],
  ['bare LF in a field', 'HTTP/1.1 200 OK\r\nx-a: a\nx-b: b\r\ncontent-length: 0\r\n\r\n'],
  ['conflicting content-lengths', 'HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nx'],
  ['content-length not digits', 'HTTP/1.1 200 OK\r\ncontent-length: 0x10\r\n\r\n'],
  ['negative content-length', 'HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n'],
  ['bad chunk size', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'],
  ['huge chunk size', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nfffffffffffffffff\r\n'],
  ['chunk without CRLF after', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n'],
  ['data after the response', 'HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nxHTTP/1.1 200 OK\r\n\r\n'],
  ['Transfer-Encoding in HTTP/1.0', 'HTTP/1.0 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n'],
  ['101 without an upgrade', 'HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n'],
  ['head larger than the limit', `HTTP/1.1 200 OK\r\nx-a: ${'a'.repeat(300)}\r\n\r\n`],
  ['head that never ends, refused once over the limit', `HTTP/1.1 200 OK\r\nx-a: ${'a'.repeat(300)}`],
  ['cut short (content-length)', 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhel', 'GET', true],
  ['cut short (chunked)', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel', 'GET', true],
  ['cut short (head)', 'HTTP/1.1 200 OK\r\ncontent-le', 'GET', true],
];

test('malformed or ambiguous responses are refused, however they are split', () => {
  for (const [name, wire, method = 'GET', eof = false] of refused)
    for (const bytewise of [false, true])
      assert.throws(() => parse(wire, method, bytewise, eof), H1Error, `${name}${bytewise ? ' (bytewise)' : ''}`);
});

test('the upstream head: each field line as sent, Host replaced when asked, chunked framing said', () => {
  const facts = { address: '10.0.0.9', secure: false, port: 80 };
  const tail = 'x-forwarded-port: 80\r\nx-real-ip: 10.0.0.9\r\nx-request-id: id1\r\n\r\n';
  const fwd = (host: string) => `x-forwarded-for: 10.0.0.9\r\nx-forwarded-proto: http\r\nx-forwarded-host: ${host}\r\n`;
  const h = ['host', 'x.test', 'x-a', '1', 'x-a', '2', 'x-request-id', 'id1'];
  assert.equal(
    forwardHead('GET', '/a?b=1', h, facts),
    `GET /a?b=1 HTTP/1.1\r\nhost: x.test\r\nx-a: 1\r\nx-a: 2\r\n${fwd('x.test')}${tail}`,
  );
  assert.equal(
    forwardHead('POST', '/', h.slice(0, 2).concat('x-request-id', 'id1'), facts, {
      host: 'y.test:8080',
      chunked: true,
    }),
    `POST / HTTP/1.1\r\nhost: y.test:8080\r\ntransfer-encoding: chunked\r\n${fwd('y.test:8080')}${tail}`,
  );
});

test('response fields lose hop-by-hop ones and those Connection lists', () => {
  assert.deepEqual(
    stripHopByHopList([
      'connection',
      'x-hop, Keep-Alive',
      'keep-alive',
      'timeout=5',
      'x-hop',
      'v',
      'transfer-encoding',
      'chunked',
      'proxy',
      'p',
      'set-cookie',
      'a',
      'set-cookie',
      'b',
      'content-type',
      'text/plain',
    ]),
    ['set-cookie', 'a', 'set-cookie', 'b', 'content-type', 'text/plain'],
  );
});

test('the fast path takes only plain HTTP/1.1 heads without a body; everything else is left to node:http', () => {
  const fast: [string, Partial<FastRequest>][] = [
    ['GET / HTTP/1.1\r\nHost: a.test', { method: 'GET', target: '/', host: 'a.test', close: false }],
    [
      'HEAD /x?y=1&z=%20 HTTP/1.1\r\nhost:a.test\r\nx-a:  v \t',
      { target: '/x?y=1&z=%20', headers: ['host', 'a.test', 'x-a', 'v'] },
    ],
    ['GET / HTTP/1.1\r\nhost: a\r\nconnection: keep-alive, Close', { close: true }],
    ['DELETE / HTTP/1.1\r\nhost: a\r\ncontent-length: 0', { method: 'DELETE' }],
    ['GET / HTTP/1.1\r\nhost: a\r\nx-a: \xa0', { headers: ['host', 'a', 'x-a', '\xa0'] }], // obs-text kept, not trimmed
  ];
  for (const [head, want] of fast) {
    const r = fastRequest(head, 100);
    assert.ok(r, head);
    for (const [k, v] of Object.entries(want)) assert.deepEqual(r[k as keyof FastRequest], v, head);
  }
  const slow = [
    'GET / HTTP/1.0\r\nhost: a',
    'GET http://a/ HTTP/1.1\r\nhost: a',
    'CONNECT a:443 HTTP/1.1\r\nhost: a',
    'get / HTTP/1.1\r\nhost: a',
    'GET /a"b HTTP/1.1\r\nhost: a',
    'GET / HTTP/1.1',
    'GET / HTTP/1.1\r\nhost: a\r\nhost: b',
    'GET / HTTP/1.1\r\nhost: a\r\ncontent-length: 1',
    'GET / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked',
    'GET / HTTP/1.1\r\nhost: a\r\nupgrade: websocket\r\nconnection: upgrade',
    'GET / HTTP/1.1\r\nhost: a\r\nconnection: Upgrade',
    'PUT / HTTP/1.1\r\nhost: a\r\nexpect: 100-continue',
    'GET / HTTP/1.1\r\nhost: a\r\nx-a: 1\r\n folded',
    'GET / HTTP/1.1\r\nhost: a\r\nx-a : 1',
    'GET / HTTP/1.1\r\nhost: a\r\nx-a: a\x00b',
    'GET / HTTP/1.1\r\nhost: a\r\nx-a: a\nx-b: b',
    'GET / HTTP/1.1\r\nhost: a\r\nx-1: 1\r\nx-2: 2\r\nx-3: 3',
  ];
  for (const head of slow.slice(0, -1)) assert.equal(fastRequest(head, 100), undefined, JSON.stringify(head));
  assert.equal(fastRequest(slow[slow.length - 1], 3), undefined, 'more fields than the limit');
  assert.ok(fastRequest(slow[slow.length - 1], 4));
});

test('the fast path’s upstream head: hop-by-hop and Proxy dropped, forwarding fields set like setForwarded', () => {
  const h = [
    'host',
    'a.test',
    'connection',
    'keep-alive, x-secret',
    'x-secret',
    's',
    'proxy',
    'http://evil',
    'x-forwarded-for',
    '192.0.2.1',
    'x-forwarded-for',
    '192.0.2.2',
    'x-forwarded-proto',
    'gopher',
    'x-real-ip',
    '1.1.1.1',
    'x-request-id',
    'id-1',
    'cookie',
    'a=1',
    'te',
    'trailers',
  ];
  const head = forwardHead('GET', '/p', h, { address: '10.0.0.9', secure: true, port: 443 });
  assert.equal(
    head,
    'GET /p HTTP/1.1\r\nhost: a.test\r\ncookie: a=1\r\n' +
      'x-forwarded-for: 192.0.2.1, 192.0.2.2, 10.0.0.9\r\nx-forwarded-proto: https\r\nx-forwarded-host: a.test\r\n' +
      'x-forwarded-port: 443\r\nx-real-ip: 10.0.0.9\r\nx-request-id: id-1\r\n\r\n',
  );
  const twice = forwardHead('GET', '/', ['host', 'a', 'x-request-id', 'a', 'x-request-id', 'b'], {
    address: '10.0.0.9',
    secure: false,
    port: 80,
  });
  assert.match(twice, /\r\nx-request-id: [0-9a-f-]{36}\r\n/, 'two IDs are one too many: a new one');
  assert.match(
    forwardHead('GET', '/', ['host', 'a', 'x-request-id', 'bad id'], { address: '', secure: false, port: 80 }),
    /x-request-id: [0-9a-f-]{36}/,
  );
});

test('the fast path never takes a head node:http refuses: unknown method, CONNECT, PRI, two Content-Lengths', () => {
  // Each of these is a 400 (or a closed connection) from node:http; the fast path must leave them to it.
  const refused = [
    'FOO / HTTP/1.1\r\nhost: a',
    'CONNECT / HTTP/1.1\r\nhost: a',
    'PRI / HTTP/1.1\r\nhost: a',
    'GET / HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\ncontent-length: 0',
  ];
  for (const head of refused) assert.equal(fastRequest(head, 100), undefined, JSON.stringify(head));
  assert.ok(fastRequest('QUERY / HTTP/1.1\r\nhost: a', 100), 'a method llhttp knows stays fast');
});

test('dot segments in a target (also percent-encoded) are found, so neither path routes them', () => {
  for (const t of [
    '/a/../b',
    '/..',
    '/./a',
    '/a/%2e%2E/b',
    '/a/.%2e',
    '/a/..?x=1',
    '/a/..%2fb',
    '/a%2F..%2Fb',
    '/a/..%5Cb',
  ])
    assert.equal(dotSegment(t), true, t);
  for (const t of ['/a/b', '/a..b/c', '/.well-known/x', '/a/b?x=/../y', '/...', '/a%2F...'])
    assert.equal(dotSegment(t), false, t);
  assert.equal(fastRequest('GET /a/../b HTTP/1.1\r\nhost: a', 100), undefined, 'left to node:http, which refuses it');
});
