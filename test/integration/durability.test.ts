// kill -9 of the server in the middle of 1000 creates: after a restart every acknowledged
// create is there, and nothing that was never sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { credentials, spawnServer, tempDir } from '../helpers/server.ts';
import { freePort } from '../helpers/etcd.ts';
import { api } from '../helpers/http.ts';

test('acknowledged creates survive kill -9 of the server', async () => {
  const dir = tempDir('durable');
  const port = await freePort();
  let srv = await spawnServer(dir, port);
  const base = credentials(srv.kubeconfig);
  const acked = new Set<string>();
  const inflight = new Set<string>();
  let next = 0;
  let killed = false;
  const worker = async () => {
    while (next < 1000 && !killed) {
      const name = `cm-${next++}`;
      inflight.add(name);
      try {
        const r = await api(
          base,
          'POST',
          '/api/v1/namespaces/default/configmaps',
          JSON.stringify({ metadata: { name }, data: { n: name } }),
        );
        if (r.status === 201) acked.add(name);
      } catch {
        /* connection cut by the kill */
      }
      if (!killed) inflight.delete(name);
    }
  };
  const workers = Array.from({ length: 8 }, worker);
  const deadline = Date.now() + 60_000;
  while (acked.size < 300) {
    if (Date.now() > deadline) {
      killed = true;
      srv.proc.kill('SIGKILL');
      throw new Error(`only ${acked.size} creates acknowledged within 60 s`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  killed = true;
  srv.proc.kill('SIGKILL');
  await Promise.all(workers);
  await srv.proc;
  assert.ok(acked.size >= 300);

  srv = await spawnServer(dir, port);
  try {
    const list = await api(credentials(srv.kubeconfig), 'GET', '/api/v1/namespaces/default/configmaps');
    assert.equal(list.status, 200);
    const present = new Set<string>(
      list
        .json()
        // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
        .items.map((i: any) => i.metadata.name)
        .filter((n: string) => n.startsWith('cm-')),
    );
    for (const name of acked) assert.ok(present.has(name), `acknowledged ${name} is missing`);
    for (const name of present) assert.ok(acked.has(name) || inflight.has(name), `${name} was never sent`);
    assert.ok(present.size <= acked.size + 8, 'at most the in-flight requests beyond the acknowledged ones');
    // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
    for (const i of list.json().items.filter((x: any) => x.metadata.name.startsWith('cm-')))
      assert.equal(i.data.n, i.metadata.name, 'content intact');
  } finally {
    srv.proc.kill('SIGTERM');
    await srv.proc;
    rmSync(dir, { recursive: true, force: true });
  }
});
