// The agent side of joining: fetch the CA, check it against the hash in the join token,
// then trade the token's secret for this node's credential (kept in the data dir).
import { createHash, X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseToken } from '../controlplane/shared/join-token.ts';
import { serverList } from './api.ts';

export interface Credentials {
  /** The servers, comma-separated, as --server gave them. */
  server: string;
  ca: string;
  token: string;
  nodeName: string;
}

export class JoinError extends Error {}

function fetch(
  url: string,
  opts: { ca?: string; insecure?: boolean; method?: string; auth?: string; body?: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = request(
      url,
      {
        method: opts.method ?? 'GET',
        ca: opts.ca,
        rejectUnauthorized: !opts.insecure,
        timeout: 15_000,
        headers: {
          ...(opts.auth ? { Authorization: `Bearer ${opts.auth}` } : {}),
          ...(opts.body ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(opts.body) } : {}),
        },
      },
      (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    r.on('timeout', () => r.destroy(new Error('timed out')));
    r.on('error', reject);
    if (opts.body) r.write(opts.body);
    r.end();
  });
}

export async function joinCluster(
  server: string,
  token: string,
  nodeName: string,
  dataDir: string,
): Promise<Credentials> {
  const file = join(dataDir, 'credentials.json');
  const t = parseTokenOrFail(token);
  if (existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Credentials;
    if (saved.server === server && saved.nodeName === nodeName && hashOf(saved.ca) === t.caHash) return saved;
  }
  // Any of the servers will do: the first that answers is asked.
  const unreachable: string[] = [];
  for (const one of serverList(server)) {
    try {
      const got = await joinOne(one, t, nodeName);
      const creds: Credentials = { server, ca: got.ca, token: got.token, nodeName };
      mkdirSync(dataDir, { recursive: true });
      writeFileSync(file, JSON.stringify(creds), { mode: 0o600 });
      return creds;
    } catch (e) {
      if (!(e instanceof Unreachable)) throw e;
      unreachable.push(e.message);
    }
  }
  throw new JoinError(unreachable.join('; '));
}

class Unreachable extends JoinError {}

async function joinOne(
  server: string,
  t: { caHash: string; secret: string },
  nodeName: string,
): Promise<{ ca: string; token: string }> {
  // Not yet trusted: the CA is fetched without verification and accepted only if its hash matches.
  let ca: string;
  try {
    const r = await fetch(`${server}/skiff/v1/cacerts`, { insecure: true });
    if (r.status !== 200) throw new JoinError(`${server} answered ${r.status} for its CA`);
    ca = r.body;
  } catch (e) {
    if (e instanceof JoinError) throw e;
    throw new Unreachable(`cannot reach ${server}: ${(e as Error).message}`);
  }
  let got: string;
  try {
    got = hashOf(ca);
  } catch {
    throw new JoinError('the server sent something that is not a certificate');
  }
  if (got !== t.caHash)
    throw new JoinError(`the server's CA (${got}) does not match the join token (${t.caHash}): refusing to trust it`);
  const r = await fetch(`${server}/skiff/v1/join`, {
    ca,
    method: 'POST',
    auth: t.secret,
    body: JSON.stringify({ nodeName }),
  });
  if (r.status === 401) throw new JoinError('the server rejected the join token');
  if (r.status !== 200) throw new JoinError(`join failed: ${r.status} ${r.body.slice(0, 200)}`);
  return { ca, token: JSON.parse(r.body).token };
}

function hashOf(pem: string): string {
  return 'sha256:' + createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}

function parseTokenOrFail(token: string) {
  try {
    return parseToken(token);
  } catch (e) {
    throw new JoinError((e as Error).message);
  }
}
