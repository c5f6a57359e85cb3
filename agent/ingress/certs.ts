// Server certificates for the HTTPS listener, chosen per connection by SNI. Each `kubernetes.io/tls`
// Secret an Ingress names becomes one tls.SecureContext, rebuilt only when the Secret's bytes change;
// the listener asks for a context on every handshake, so a rotated Secret is served to the next
// connection while open ones keep theirs. Hosts without a usable Secret get a self-signed default.
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Secret } from '../../controlplane/shared/kube/index.ts';
import { type Problem, type RouteTable, tlsSecretFor } from './routes.ts';

export interface KeyPair {
  cert: string;
  key: string;
}

/** Writes a self-signed ECDSA P-256 certificate and its key (openssl CLI), with a DNS SAN if given. */
export async function selfSigned(o: { crt: string; key: string; subject: string; days: number; dns?: string }) {
  await execa('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    String(o.days),
    '-subj',
    o.subject,
    ...(o.dns ? ['-addext', `subjectAltName=DNS:${o.dns}`] : []),
    '-keyout',
    o.key,
    '-out',
    o.crt,
  ]);
}

/** Loads the default certificate from `dir`, making a self-signed ECDSA P-256 one on first use (openssl CLI). */
export async function defaultCertificate(dir: string): Promise<KeyPair> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const crt = join(dir, 'default.crt');
  const key = join(dir, 'default.key');
  if (!existsSync(crt) || !existsSync(key))
    await selfSigned({ crt, key, subject: '/O=Skiff/CN=Skiff Ingress Default Certificate', days: 3650 });
  return { cert: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') };
}

interface Entry {
  digest: string;
  context: SecureContext;
}

export class CertStore {
  private readonly byDigest = new Map<string, Entry>();
  private bySecret = new Map<string, Entry>();
  private table: RouteTable | undefined;
  readonly fallback: SecureContext;

  constructor(fallback: KeyPair) {
    this.fallback = createSecureContext(fallback);
  }

  /**
   * Takes the route table's TLS hosts and the Secrets they name; returns the problems (a missing
   * Secret, a wrong type, a key that does not fit the certificate) for the Ingresses' Events.
   */
  update(table: RouteTable, secrets: Map<string, Secret>): Problem[] {
    const problems: Problem[] = [];
    const next = new Map<string, Entry>();
    // One pass per Secret, reported on the first Ingress that names it.
    const wanted = new Map<string, string>();
    for (const { secret, ingress } of table.tls.values()) if (!wanted.has(secret)) wanted.set(secret, ingress);
    for (const [key, ingress] of wanted) {
      const s = secrets.get(key);
      const report = (message: string) =>
        problems.push({ ingress, reason: 'InvalidTLS', message: `secret ${key}: ${message}` });
      if (!s) {
        report('not found; the default certificate is served');
        continue;
      }
      if (s.type !== 'kubernetes.io/tls') {
        report(`type is ${JSON.stringify(s.type)}, not kubernetes.io/tls; the default certificate is served`);
        continue;
      }
      const cert = Buffer.from(s.data?.['tls.crt'] ?? '', 'base64');
      const k = Buffer.from(s.data?.['tls.key'] ?? '', 'base64');
      const digest = createHash('sha256').update(cert).update('\0').update(k).digest('hex');
      let entry = this.byDigest.get(digest);
      if (!entry) {
        try {
          entry = { digest, context: createSecureContext({ cert, key: k }) };
        } catch (e) {
          report(`${(e as Error).message}; the default certificate is served`);
          continue;
        }
      }
      next.set(key, entry);
    }
    this.byDigest.clear();
    for (const e of next.values()) this.byDigest.set(e.digest, e);
    this.bySecret = next;
    this.table = table;
    return problems;
  }

  /** The context for a TLS server name (SNI), the default one when no Secret covers it. */
  contextFor(servername: string | undefined): SecureContext {
    if (!servername || !this.table) return this.fallback;
    const key = tlsSecretFor(this.table, servername);
    return (key && this.bySecret.get(key)?.context) || this.fallback;
  }

  /** For tls.Server's SNICallback. */
  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    cb(null, this.contextFor(servername));
  };
}
