// Bearer-token authentication. Tokens live in a file in the data dir ("token,user,uid,groups"
// per line, like kube-apiserver's static token file) so later issues can add node credentials.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';

export interface User {
  name: string;
  uid: string;
  groups: string[];
}

export class TokenAuth {
  private tokens = new Map<string, User>();
  private file: string;
  /** Servers sharing a datastore share this key: a node token is an HMAC any of them can check. */
  private nodeKey: string | undefined;
  constructor(file: string, nodeKey?: string) {
    this.file = file;
    this.nodeKey = nodeKey;
    if (!existsSync(file))
      writeFileSync(file, `${randomBytes(24).toString('hex')},admin,admin,system:masters\n`, { mode: 0o600 });
    this.reload();
  }
  reload() {
    this.tokens.clear();
    for (const line of readFileSync(this.file, 'utf8').split('\n')) {
      const [token, name, uid, groups] = line.trim().split(',');
      if (token && name)
        this.tokens.set(token, { name, uid: uid ?? name, groups: (groups ?? '').split(';').filter(Boolean) });
    }
  }
  /** Returns the node's token, creating one (user system:node:NAME, group system:nodes) if needed. */
  nodeToken(node: string): string {
    const user = `system:node:${node}`;
    if (this.nodeKey) return `skiff-node:${node}:${this.nodeMac(node)}`;
    for (const [t, u] of this.tokens) if (u.name === user) return t;
    const token = randomBytes(24).toString('hex');
    appendFileSync(this.file, `${token},${user},${user},system:nodes\n`);
    this.tokens.set(token, { name: user, uid: user, groups: ['system:nodes'] });
    return token;
  }

  private nodeMac(node: string): string {
    return createHmac('sha256', this.nodeKey ?? '')
      .update(`system:node:${node}`)
      .digest('hex');
  }

  /** The admin's token (first line whose groups include system:masters). */
  adminToken(): string {
    for (const [t, u] of this.tokens) if (u.groups.includes('system:masters')) return t;
    throw new Error('no admin token in ' + this.file);
  }
  authenticate(header: string | undefined): User | null {
    if (!header) return null;
    const m = header.match(/^Bearer\s+(\S+)$/i);
    if (!m) return null;
    const given = Buffer.from(m[1]);
    for (const [t, u] of this.tokens) {
      const b = Buffer.from(t);
      if (b.length === given.length && timingSafeEqual(b, given)) return u;
    }
    const node = this.nodeKey ? m[1].match(/^skiff-node:([a-z0-9.-]{1,253}):([0-9a-f]{64})$/) : null;
    if (node && timingSafeEqual(Buffer.from(this.nodeMac(node[1])), Buffer.from(node[2]))) {
      const user = `system:node:${node[1]}`;
      return { name: user, uid: user, groups: ['system:nodes'] };
    }
    return null;
  }
}
