// SPDY/3.1 framing: the header dictionary is the specification's, header blocks round-trip,
// and a client and a server session wired back to back open streams, reply, carry data both
// ways, half-close with FIN, and reset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SPDY_DICTIONARY } from '../../controlplane/shared/spdy-dictionary.ts';
import { SpdySession, decodeHeaders, encodeHeaders, type SpdyStream } from '../../controlplane/shared/spdy.ts';

function adler32(b: Buffer): number {
  let a = 1,
    s = 0;
  for (const c of b) {
    a = (a + c) % 65521;
    s = (s + a) % 65521;
  }
  return ((s << 16) | a) >>> 0;
}

test('the header dictionary has the length and Adler-32 the specification gives', () => {
  assert.equal(SPDY_DICTIONARY.length, 1423);
  assert.equal(adler32(SPDY_DICTIONARY), 0xe3c6a7c2);
});

test('header blocks round-trip with lower-cased names', () => {
  const cases: Record<string, string>[] = [{}, { streamType: 'error', port: '8080', requestID: '3' }, { a: '' }];
  for (const h of cases) {
    const back = decodeHeaders(encodeHeaders(h));
    assert.deepEqual(back, Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v])));
  }
});

function pair() {
  let server!: SpdySession;
  // Bytes are delivered in odd-sized pieces to exercise reassembly.
  const client = new SpdySession((b) => {
    for (let i = 0; i < b.length; i += 7) server.feed(b.subarray(i, i + 7));
  }, 'client');
  server = new SpdySession((b) => client.feed(b), 'server');
  return { client, server };
}

test('streams open, carry data both ways, and half-close', async () => {
  const { client, server } = pair();
  const seen: SpdyStream[] = [];
  const got: string[] = [];
  server.onStream = (s) => {
    seen.push(s);
    s.accept();
    s.onData = (d) => {
      got.push(d.toString());
      s.write(Buffer.from(d.toString().toUpperCase()));
    };
    s.onEnd = () => s.end();
  };
  const a = await client.open({ streamType: 'data', port: '80' });
  const b = await client.open({ streamType: 'error', port: '80' });
  assert.deepEqual(
    seen.map((s) => [s.id, s.headers.streamtype]),
    [
      [1, 'data'],
      [3, 'error'],
    ],
  );
  const echoed: string[] = [];
  const ended = new Promise<boolean>((r) => {
    a.onEnd = r;
  });
  a.onData = (d) => echoed.push(d.toString());
  a.write(Buffer.from('hello'));
  a.write(Buffer.alloc(100_000, 'z'));
  a.end();
  assert.equal(await ended, false);
  assert.equal(echoed.join(''), 'HELLO' + 'Z'.repeat(100_000));
  assert.equal(got.join('').length, 100_005);
  const reset = new Promise<boolean>((r) => {
    seen[1].onEnd = r;
  });
  b.reset();
  assert.equal(await reset, true);
  client.close();
  server.close();
});

test('a stream the peer never answers times out', async () => {
  const client = new SpdySession(() => {}, 'client');
  await assert.rejects(client.open({ streamType: 'x' }, 200), /no reply to stream 1/);
  client.close();
});

test('a stream the peer resets fails to open with the reset, at once', async () => {
  const { client, server } = pair();
  server.onStream = (s) => s.reset();
  await assert.rejects(client.open({ streamType: 'data' }), /stream 1 reset by the peer \(status 5\)/);
  client.close();
  server.close();
});

test('a session lost while a stream waits for its reply fails the open with the reason', async () => {
  const client = new SpdySession(() => {}, 'client');
  const opening = client.open({ streamType: 'data' });
  setImmediate(() => client.close(new Error('the streaming connection closed: ECONNRESET')));
  const started = Date.now();
  await assert.rejects(opening, /ECONNRESET/);
  assert.ok(Date.now() - started < 5000, 'not after the reply timeout');
  await assert.rejects(client.open({ streamType: 'error' }), /session closed/);
});
