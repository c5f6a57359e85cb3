// Watches against a real `skiff server` process with a large-ish store: a watch whose client goes
// away releases its socket and memory at once (200 watches opened and closed 5 times, file
// descriptors and RSS back near their start, every watch gets its headers), and a watcher that
// does not read is closed once its queue passes the cap instead of growing the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { request, Agent } from 'node:https';
import { credentials, spawnServer, tempDir } from '../helpers/server.ts';
import { freePort } from '../helpers/etcd.ts';
import { raw, tlsOptions, type Base } from '../helpers/raw.ts';

const OBJECTS = 150,
  VALUE = 'x'.repeat(80 * 1024),
  WATCHES = 200,
  ROUNDS = 5;

const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

async function until(what: string, cond: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Opens a watch; resolves with its request once the response headers arrived. */
function openWatch(
  base: Base,
  path: string,
  agent: Agent,
  read: boolean,
): Promise<{ destroy(): void; resume(): void; ended: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      base.server + path,
      { ...tlsOptions(base.ca), agent, headers: { Authorization: `Bearer ${base.token}` } },
      (res) => {
        clearTimeout(timer);
        let bytes = 0;
        // The socket's close, not the (paused) response's: a paused response never ends.
        const ended = new Promise<number>((r) => {
          if (req.socket?.destroyed) r(bytes);
          req.socket?.on('close', () => r(bytes));
        });
        res.on('data', (c: Buffer) => (bytes += c.length));
        if (!read) res.pause();
        resolve({ destroy: () => req.destroy(), resume: () => res.resume(), ended });
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`no response headers for ${path} in 20 s`)), 20_000);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end();
  });
}

test('watch churn and slow watchers leave no sockets or memory behind', { timeout: 120_000 }, async () => {
  const dir = tempDir('watch-churn');
  const srv = await spawnServer(dir, await freePort());
  const pid = srv.proc.pid!;
  const base = credentials(srv.kubeconfig);
  try {
    assert.equal(
      (await raw(base, 'POST', '/api/v1/namespaces', JSON.stringify({ metadata: { name: 'big' } }))).status,
      201,
    );
    let next = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (next < OBJECTS) {
          const i = next++;
          const r = await raw(
            base,
            'POST',
            '/api/v1/namespaces/big/configmaps',
            JSON.stringify({ metadata: { name: `c${i}` }, data: { v: VALUE } }),
          );
          assert.equal(r.status, 201, r.body);
        }
      }),
    );
    const fd0 = fds(pid),
      rss0 = rssMiB(pid);
    for (let round = 0; round < ROUNDS; round++) {
      const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
      const t0 = Date.now();
      const watches = await Promise.all(
        Array.from({ length: WATCHES }, (_, i) =>
          openWatch(base, '/api/v1/configmaps?watch=1&resourceVersion=0', agent, i % 2 === 0),
        ),
      );
      const headersMs = Date.now() - t0;
      for (const w of watches) w.destroy();
      agent.destroy();
      await until(
        `round ${round}: file descriptors back near ${fd0} (now ${fds(pid)})`,
        () => fds(pid) <= fd0 + 10,
        15_000,
      );
      const ready = await raw(base, 'GET', '/readyz', undefined, {}, 5_000);
      assert.equal(ready.status, 200);
      console.log(
        `round ${round}: ${WATCHES} watches got headers in ${headersMs} ms; fds ${fds(pid)} (start ${fd0}); ` +
          `RSS ${rssMiB(pid).toFixed(0)} MiB (start ${rss0.toFixed(0)})`,
      );
    }
    await until(
      `RSS back near ${rss0.toFixed(0)} MiB (now ${rssMiB(pid).toFixed(0)})`,
      () => rssMiB(pid) < rss0 + 200,
      20_000,
    );

    // A watcher that never reads: the server closes it once its queue passes the cap.
    const agent = new Agent({ keepAlive: false });
    const slow = await openWatch(
      base,
      '/api/v1/namespaces/big/configmaps?watch=1&resourceVersion=' +
        (await raw(base, 'GET', '/api/v1/namespaces/big/configmaps?limit=1')).json().metadata.resourceVersion,
      agent,
      false,
    );
    const big = 'y'.repeat(900 * 1024);
    const EVENTS = 40;
    for (let i = 0; i < EVENTS; i++) {
      const r = await raw(
        base,
        'POST',
        '/api/v1/namespaces/big/configmaps',
        JSON.stringify({ metadata: { name: `big${i}` }, data: { v: big } }),
      );
      assert.equal(r.status, 201);
    }
    // A paused client cannot see the close; reading now shows where the server cut it off.
    slow.resume();
    let closed = false;
    const got = slow.ended.then((n) => {
      closed = true;
      return n;
    });
    await until('the server to have closed the slow watch', () => closed, 15_000);
    const received = await got;
    console.log(
      `slow watcher: closed after ${(received / 2 ** 20).toFixed(1)} MiB ` +
        `of ${((EVENTS * big.length) / 2 ** 20).toFixed(1)} MiB; server RSS ${rssMiB(pid).toFixed(0)} MiB`,
    );
    assert.ok(received < EVENTS * big.length, 'the slow watch was cut off before everything was queued');
    agent.destroy();
    await until(`file descriptors back near ${fd0}`, () => fds(pid) <= fd0 + 10, 15_000);
  } finally {
    srv.proc.kill('SIGTERM');
    await srv.proc;
    rmSync(dir, { recursive: true, force: true });
  }
});
