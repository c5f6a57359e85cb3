// Servers of one cluster on a shared etcd: one CA, one admin token, node credentials any server
// accepts, each serving certificate naming its own address; a wrong token is refused in one line
// and leaves the data dir empty.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { execa } from 'execa';
import { startEtcd } from '../helpers/etcd.ts';
import { credentials, SKIFF, startTestServer, tempDir } from '../helpers/server.ts';
import { api } from '../helpers/http.ts';
import { formatToken, parseToken } from '../../controlplane/shared/join-token.ts';

test('a second server given the join token shares the CA and tokens; a wrong token is refused cleanly', {
  timeout: 120_000,
}, async () => {
  const etcd = await startEtcd(1);
  const endpoint = etcd.endpoints[0];
  const a = await startTestServer({ datastoreEndpoint: endpoint });
  let b: Awaited<ReturnType<typeof startTestServer>> | null = null;
  try {
    b = await startTestServer({ datastoreEndpoint: endpoint, token: a.server.joinToken });
    assert.equal(b.server.caCert, a.server.caCert, 'one CA');
    assert.equal(b.server.adminToken, a.server.adminToken, 'one admin token');
    assert.equal(b.server.joinToken, a.server.joinToken, 'one join token');
    const ca = credentials(a.kubeconfig),
      cb = credentials(b.kubeconfig);
    assert.notEqual(ca.server, cb.server);
    // b's own serving certificate, from the shared CA: a's credentials are trusted at b's address.
    const nodes = await api({ ...ca, server: cb.server }, 'GET', '/api/v1/nodes');
    assert.equal(nodes.status, 200, nodes.body);
    // A node credential issued by a is accepted by b (and says who the node is).
    const { secret } = parseToken(a.server.joinToken);
    const joined = await api({ ...ca, token: secret }, 'POST', '/skiff/v1/join', JSON.stringify({ nodeName: 'n1' }));
    assert.equal(joined.status, 200, joined.body);
    const nodeToken = joined.json().token as string;
    const created = await api(
      { ...cb, token: nodeToken },
      'POST',
      '/api/v1/nodes',
      JSON.stringify({ metadata: { name: 'n1' } }),
    );
    assert.equal(created.status, 201, created.body);
    const other = await api(
      { ...cb, token: nodeToken.replace(/.$/, (c) => (c === '0' ? '1' : '0')) },
      'GET',
      '/api/v1/nodes',
    );
    assert.equal(other.status, 401, 'a forged node credential is refused');
    const cert = new X509Certificate(
      (await import('node:fs')).readFileSync(join(b.dir, 'data', 'tls', 'server.crt'), 'utf8'),
    );
    assert.ok(cert.checkIssued(new X509Certificate(a.server.caCert)), 'b serves a certificate of the shared CA');

    // Wrong tokens: one line, exit 1, nothing left in the data dir.
    const wrongSecret = formatToken({ caHash: parseToken(a.server.joinToken).caHash, secret: 'ab'.repeat(24) });
    const wrongCa = formatToken({ caHash: `sha256:${'0'.repeat(64)}`, secret });
    const cases: [string, RegExp][] = [
      [wrongSecret, /^skiff: server: the token does not match the cluster in the datastore/],
      ['cd'.repeat(20), /^skiff: server: the token does not match the cluster in the datastore/],
      [wrongCa, /^skiff: server: the token's CA hash does not match/],
      ['nonsense', /^skiff: server: malformed join token/],
    ];
    for (const [token, want] of cases) {
      const dir = tempDir('wrong');
      const r = await execa(
        SKIFF,
        [
          'server',
          '--data-dir',
          join(dir, 'data'),
          '--bind-address',
          '127.0.0.1',
          '--secure-port',
          '0',
          '--agent-port',
          '0',
          '--write-kubeconfig',
          join(dir, 'kc'),
          '--datastore-endpoint',
          endpoint,
          '--token',
          token,
        ],
        { reject: false, timeout: 60_000 },
      );
      assert.equal(r.exitCode, 1, `${token}: ${r.stderr}`);
      const lines = String(r.stderr).trim().split('\n');
      assert.equal(lines.length, 1, String(r.stderr));
      assert.match(lines[0], want);
      for (const f of ['tls/ca.crt', 'tls/ca.key', 'tokens.csv', 'join-secret', 'node-key', 'token'])
        assert.ok(!existsSync(join(dir, 'data', f)), `${f} left behind for ${token}`);
      assert.ok(!existsSync(join(dir, 'kc')), 'no kubeconfig written');
    }
  } finally {
    await b?.stop();
    await a.stop();
    await etcd.stop();
  }
});
