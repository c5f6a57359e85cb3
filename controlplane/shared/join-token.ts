// The join token's format, read by agents and written by servers: `skiff-v1:<CA sha256>:<secret>`.
// It pins the cluster CA (the agent checks the CA it fetches against the hash) and carries the
// secret an agent trades for its node credential.
export const TOKEN_PREFIX = 'skiff-v1';

export interface JoinToken {
  caHash: string;
  secret: string;
}

export function formatToken(t: JoinToken): string {
  return `${TOKEN_PREFIX}:${t.caHash.replace(/^sha256:/, '')}:${t.secret}`;
}

export function parseToken(s: string): JoinToken {
  const m = s.trim().match(/^skiff-v1:([0-9a-f]{64}):([0-9a-f]{32,})$/);
  if (!m)
    throw new Error(
      'malformed join token (expected skiff-v1:<ca sha256>:<secret>; `skiff token` prints it on the server)',
    );
  return { caHash: `sha256:${m[1]}`, secret: m[2] };
}
