// Joining nodes, as k3s does: the join token carries the hash of the cluster CA and a secret.
// An agent fetches the CA from /skiff/v1/cacerts (public), checks its hash, then trades the
// secret at /skiff/v1/join for a node credential that may only act as that node.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { caHash } from '../pki/pki.ts';
import { formatToken } from '../shared/join-token.ts';

/** The server's join token, created on first start and kept in the data dir. */
export function ensureJoinToken(dataDir: string, caPem: string): string {
  const secretFile = join(dataDir, 'join-secret');
  if (!existsSync(secretFile)) writeFileSync(secretFile, randomBytes(24).toString('hex'), { mode: 0o600 });
  const token = formatToken({ caHash: caHash(caPem), secret: readFileSync(secretFile, 'utf8').trim() });
  writeFileSync(join(dataDir, 'token'), token + '\n', { mode: 0o600 });
  return token;
}

export function secretMatches(header: string | undefined, secret: string): boolean {
  const m = header?.match(/^Bearer\s+(\S+)$/i);
  if (!m) return false;
  const a = Buffer.from(m[1]),
    b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}
