// The ingress's upstream connection pool against a real TCP server on 127.0.0.1: a pooled
// connection the endpoint has half-closed (its FIN read, its `close` event still to come) is never
// handed to the next request, which would be written into a dying connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { type Conn, UpstreamPool } from '../../agent/ingress/upstreams.ts';

function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`timed out: ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

test('a pooled connection the endpoint half-closed is not taken before its close event', async () => {
  const accepted: Socket[] = [];
  const server = createServer((s) => {
    accepted.push(s);
    s.on('error', () => {});
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const u = { ip: '127.0.0.1', port: (server.address() as AddressInfo).port };
  const pool = new UpstreamPool({ maxSockets: 4, idleMs: 10_000 });
  try {
    const first = await within(5000, 'first connection', new Promise<Conn>((ok) => pool.take(u, ok)));
    await within(5000, 'connected', new Promise((ok) => first.socket.once('connect', ok)));
    pool.release(first);
    // The endpoint ends the idle connection; at the client's `end` event its `close` is still to come.
    await within(
      5000,
      'accepted',
      (async () => {
        while (!accepted.length) await new Promise((ok) => setImmediate(ok));
      })(),
    );
    const next = await within(
      5000,
      'a connection taken at the FIN',
      new Promise<Conn>((ok) => {
        first.socket.once('end', () => pool.take(u, ok));
        accepted[0].end();
      }),
    );
    assert.notEqual(next, first, 'the half-closed connection was handed out');
    assert.equal(next.socket.readableEnded, false);
    next.socket.destroy();
  } finally {
    pool.close();
    for (const s of accepted) s.destroy();
    await new Promise((ok) => server.close(ok));
  }
});
