// The sealed cluster identity and the parsing around it: a round trip with the right secret, a
// clear error for a wrong secret or a tampered box, the forms a server's --token takes, the
// agent's --server list, and node credentials checked by HMAC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seal, serverToken, unseal, type Identity } from '../../controlplane/server/identity.ts';
import { serverList } from '../../agent/api.ts';
import { TokenAuth } from '../../controlplane/api/auth.ts';

const ID: Identity = {
  caCert: 'CERT',
  caKey: 'KEY',
  joinSecret: 'a'.repeat(48),
  adminToken: 'b'.repeat(48),
  nodeKey: 'c'.repeat(64),
};

test('the identity opens with its secret only, and a tampered box is refused', () => {
  const box = seal(ID, ID.joinSecret);
  assert.ok(!box.includes('KEY') && !box.includes(ID.adminToken), 'nothing readable in the box');
  assert.deepEqual(unseal(box, ID.joinSecret), ID);
  assert.throws(() => unseal(box, 'd'.repeat(48)), /the token does not match the cluster in the datastore/);
  const b = JSON.parse(box);
  const data = Buffer.from(b.data, 'base64');
  data[0] ^= 1;
  const tampered = JSON.stringify({ ...b, data: data.toString('base64') });
  assert.throws(() => unseal(tampered, ID.joinSecret), /does not match/);
  assert.throws(() => unseal(JSON.stringify({ ...b, v: 2 }), ID.joinSecret), /unknown format \(v2\)/);
});

test("a server's --token: a join token, a bare secret, or a clear error", () => {
  const hash = 'e'.repeat(64);
  assert.deepEqual(serverToken(`skiff-v1:${hash}:${'f'.repeat(48)}`), {
    caHash: `sha256:${hash}`,
    secret: 'f'.repeat(48),
  });
  assert.deepEqual(serverToken('0123456789abcdef'.repeat(2)), { secret: '0123456789abcdef'.repeat(2) });
  assert.throws(() => serverToken('short'), /malformed join token/);
  assert.throws(() => serverToken('abc'.repeat(5)), /malformed join token/);
});

test("the agent's --server list", () => {
  assert.deepEqual(serverList('https://a:6443/'), ['https://a:6443']);
  assert.deepEqual(serverList(' https://a:6443, https://b:6443 ,,https://c:6443'), [
    'https://a:6443',
    'https://b:6443',
    'https://c:6443',
  ]);
  assert.throws(() => serverList(' , '), /no API server/);
});

test('node credentials with a node key: any server with the key accepts them, forgeries are refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-auth-'));
  try {
    const a = new TokenAuth(join(dir, 'a.csv'), ID.nodeKey);
    const b = new TokenAuth(join(dir, 'b.csv'), ID.nodeKey);
    const other = new TokenAuth(join(dir, 'c.csv'), 'f'.repeat(64));
    const t = a.nodeToken('node-1.example');
    assert.deepEqual(b.authenticate(`Bearer ${t}`), {
      name: 'system:node:node-1.example',
      uid: 'system:node:node-1.example',
      groups: ['system:nodes'],
    });
    assert.equal(other.authenticate(`Bearer ${t}`), null, 'another cluster');
    assert.equal(b.authenticate(`Bearer ${t.replace('node-1', 'node-2')}`), null, 'another node name');
    assert.equal(new TokenAuth(join(dir, 'd.csv')).authenticate(`Bearer ${t}`), null, 'no node key');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
