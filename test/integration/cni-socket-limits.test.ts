// The agent's CNI socket bounds what a client can make it hold: a request over the limit gets a
// CNI error at once and is not parsed; the socket is root's only, whatever the umask.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_CNI_REQUEST, startCniServer } from '../../agent/network/cni-server.ts';

test('CNI socket: an oversized request gets error JSON, not parsing; mode 0600', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-cni-sock-'));
  const socket = join(dir, 'cni.sock');
  const server = await startCniServer(socket);
  try {
    assert.equal(statSync(socket).mode & 0o777, 0o600);
    const answer = await new Promise<string>((resolve, reject) => {
      const c = connect(socket);
      const got: Buffer[] = [];
      c.on('data', (d) => got.push(d));
      c.on('close', () => resolve(Buffer.concat(got).toString()));
      c.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' ? undefined : reject(e)));
      c.write('CNI_COMMAND=GC\0\0');
      const block = Buffer.alloc(1024 * 1024, 'x');
      for (let sent = 0; sent <= MAX_CNI_REQUEST; sent += block.length) c.write(block);
      c.end();
    });
    assert.equal(answer[0], '1', answer.slice(0, 200));
    const err = JSON.parse(answer.slice(1));
    assert.equal(err.code, 6);
    assert.match(err.msg, /larger than/);
  } finally {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});
