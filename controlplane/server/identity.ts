// The identity servers of one cluster share when they share a datastore: the CA (certificate and
// key), the join secret, the admin token and the key node credentials are derived with. The first
// server puts them in the datastore under one key, encrypted with a key derived from the join
// secret; a later server given `--token` (the join token, or the bare secret all servers started
// together were given), or restarted on its data dir, decrypts them and writes them to its data
// dir, where ensurePki, ensureJoinToken and TokenAuth find them. Each server still makes its own
// serving certificate, signed by the shared CA, naming its own addresses.
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { caHash, makeCa } from '../pki/pki.ts';
import { parseToken } from '../shared/join-token.ts';
import { StoreError, type Store } from '../store/store.ts';

export const IDENTITY_KEY = '/skiff/bootstrap';

export interface Identity {
  caCert: string;
  caKey: string;
  joinSecret: string;
  adminToken: string;
  /** HMAC key for node credentials, so every server accepts a node token any server issued. */
  nodeKey: string;
}

/** The files an Identity lives in, inside a server's data dir. */
export const identityFiles = (dataDir: string) => ({
  caCert: join(dataDir, 'tls', 'ca.crt'),
  caKey: join(dataDir, 'tls', 'ca.key'),
  joinSecret: join(dataDir, 'join-secret'),
  tokens: join(dataDir, 'tokens.csv'),
  nodeKey: join(dataDir, 'node-key'),
});

const keyFor = (secret: string, salt: Buffer) => scryptSync(secret, salt, 32);

export function seal(id: Identity, secret: string): string {
  const salt = randomBytes(16),
    iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', keyFor(secret, salt), iv);
  const data = Buffer.concat([c.update(JSON.stringify(id)), c.final()]);
  const b64 = (b: Buffer) => b.toString('base64');
  return JSON.stringify({ v: 1, salt: b64(salt), iv: b64(iv), tag: b64(c.getAuthTag()), data: b64(data) });
}

export function unseal(sealed: string, secret: string): Identity {
  const box = JSON.parse(sealed) as { v: number; salt: string; iv: string; tag: string; data: string };
  if (box.v !== 1) throw new Error(`the datastore's cluster identity has an unknown format (v${box.v})`);
  const b = (s: string) => Buffer.from(s, 'base64');
  const d = createDecipheriv('aes-256-gcm', keyFor(secret, b(box.salt)), b(box.iv));
  d.setAuthTag(b(box.tag));
  try {
    return JSON.parse(Buffer.concat([d.update(b(box.data)), d.final()]).toString()) as Identity;
  } catch {
    throw new Error('the token does not match the cluster in the datastore (cannot decrypt its identity)');
  }
}

const readOr = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').trim() : '');

/** What the data dir already holds (a restart, or a single server moving onto a shared datastore). */
function localIdentity(dataDir: string): Partial<Identity> {
  const f = identityFiles(dataDir);
  const admin = readOr(f.tokens)
    .split('\n')
    .map((l) => l.split(','))
    .find((c) => (c[3] ?? '').split(';').includes('system:masters'));
  return {
    caCert: readOr(f.caCert) ? readFileSync(f.caCert, 'utf8') : undefined,
    caKey: readOr(f.caKey) ? readFileSync(f.caKey, 'utf8') : undefined,
    joinSecret: readOr(f.joinSecret) || undefined,
    adminToken: admin?.[0],
    nodeKey: readOr(f.nodeKey) || undefined,
  };
}

/** A new identity, keeping whatever the data dir already has; nothing is written. */
async function newIdentity(dataDir: string, local: Partial<Identity>): Promise<Identity> {
  let { caCert, caKey } = local;
  if (!caCert || !caKey) {
    const tmp = mkdtempSync(join(dataDir, '.ca-'));
    try {
      await makeCa(tmp);
      caCert = readFileSync(join(tmp, 'ca.crt'), 'utf8');
      caKey = readFileSync(join(tmp, 'ca.key'), 'utf8');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  const hex = (n: number) => randomBytes(n).toString('hex');
  return {
    caCert,
    caKey,
    joinSecret: local.joinSecret ?? hex(24),
    adminToken: local.adminToken ?? hex(24),
    nodeKey: local.nodeKey ?? hex(32),
  };
}

function writeLocal(dataDir: string, id: Identity) {
  const f = identityFiles(dataDir);
  mkdirSync(join(dataDir, 'tls'), { recursive: true, mode: 0o700 });
  const put = (file: string, text: string) => writeFileSync(file, text, { mode: 0o600 });
  put(f.caCert, id.caCert);
  put(f.caKey, id.caKey);
  put(f.joinSecret, id.joinSecret);
  put(f.nodeKey, id.nodeKey);
  // tokens.csv may also hold node tokens issued before; the admin line is added only when missing.
  const tokens = readOr(f.tokens);
  if (!tokens.split('\n').some((l) => l.startsWith(`${id.adminToken},`)))
    put(f.tokens, `${id.adminToken},admin,admin,system:masters\n${tokens ? `${tokens}\n` : ''}`);
}

/**
 * A server's --token: a cluster's join token, or a bare secret (32+ hex digits) that servers
 * started together are all given; the first of them makes the cluster with it as join secret.
 */
export function serverToken(token: string): { secret: string; caHash?: string } {
  if (/^[0-9a-f]{32,}$/.test(token.trim())) return { secret: token.trim() };
  return parseToken(token);
}

/**
 * Makes the data dir hold the cluster identity the datastore has (or puts this server's there
 * when it is the first). `token` is the join token of the cluster to join. Every check comes
 * before the first write, so a refused start leaves the data dir as it was.
 */
export async function shareIdentity(store: Store, dataDir: string, token?: string): Promise<Identity> {
  const given = token ? serverToken(token) : null;
  const local = localIdentity(dataDir);
  let kv = await store.get(IDENTITY_KEY);
  if (!kv) {
    if (given?.caHash)
      throw new Error(
        'the datastore holds no cluster yet: start its first server without --token (or with a bare secret)',
      );
    const id = await newIdentity(dataDir, { ...local, joinSecret: given?.secret ?? local.joinSecret });
    try {
      await store.create(IDENTITY_KEY, seal(id, id.joinSecret));
      writeLocal(dataDir, id);
      return id;
    } catch (e) {
      // Another server started first at the same time: join its cluster instead.
      if (!(e instanceof StoreError && e.code === 'AlreadyExists')) throw e;
      kv = await store.get(IDENTITY_KEY);
      if (!kv) throw e;
    }
  }
  const secret = given?.secret ?? local.joinSecret;
  if (!secret)
    throw new Error(
      'the datastore already holds a cluster: give its join token with --token (`skiff token` on one of its servers)',
    );
  const id = unseal(kv.value, secret);
  if (given?.caHash && caHash(id.caCert) !== given.caHash)
    throw new Error("the token's CA hash does not match the cluster's CA in the datastore");
  if (local.caCert && caHash(local.caCert) !== caHash(id.caCert))
    throw new Error(`${dataDir} holds another cluster's CA than the datastore: use an empty data dir to join`);
  writeLocal(dataDir, id);
  return id;
}
