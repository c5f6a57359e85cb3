// The cluster CA and the API server's serving certificate, made with the openssl CLI on first
// start and kept in the data dir. ECDSA P-256 keys: small and fast to make.
import { execa } from 'execa';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Pki {
  caCert: string;
  serverCert: string;
  serverKey: string;
  caKey: string;
  dir: string;
}

async function openssl(args: string[], cwd: string) {
  await execa('openssl', args, { cwd });
}

/** Makes a new cluster CA (ca.crt, ca.key) in dir. */
export async function makeCa(dir: string) {
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], dir);
  await openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      'ca.key',
      '-sha256',
      '-days',
      '3650',
      '-subj',
      `/CN=skiff-ca@${Math.floor(Date.now() / 1000)}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
      '-out',
      'ca.crt',
    ],
    dir,
  );
}

/** Returns the CA and server certificate, creating them (or a new server cert when SANs changed). */
export async function ensurePki(dir: string, sans: { dns: string[]; ips: string[] }): Promise<Pki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = (n: string) => join(dir, n);
  if (!existsSync(f('ca.crt')) || !existsSync(f('ca.key'))) await makeCa(dir);
  const wanted = [...sans.dns.map((d) => `DNS:${d}`), ...sans.ips.map((i) => `IP:${i}`)];
  let regenerate = !existsSync(f('server.crt')) || !existsSync(f('server.key'));
  if (!regenerate) {
    const cert = new X509Certificate(readFileSync(f('server.crt')));
    const have = (cert.subjectAltName ?? '').split(', ').map((s) => s.replace('IP Address:', 'IP:'));
    regenerate =
      wanted.some((w) => !have.includes(w)) || !cert.checkIssued(new X509Certificate(readFileSync(f('ca.crt'))));
  }
  if (regenerate) {
    writeFileSync(
      f('server.ext'),
      `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,` +
        `keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${wanted.join(',')}\n`,
    );
    await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'server.key'], dir);
    await openssl(['req', '-new', '-key', 'server.key', '-subj', '/CN=kube-apiserver', '-out', 'server.csr'], dir);
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        'server.csr',
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-set_serial',
        '0x' + randomBytes(8).toString('hex'),
        '-days',
        '825',
        '-sha256',
        '-extfile',
        'server.ext',
        '-out',
        'server.crt',
      ],
      dir,
    );
  }
  return {
    dir,
    caCert: readFileSync(f('ca.crt'), 'utf8'),
    caKey: readFileSync(f('ca.key'), 'utf8'),
    serverCert: readFileSync(f('server.crt'), 'utf8'),
    serverKey: readFileSync(f('server.key'), 'utf8'),
  };
}

/** sha256 of the CA certificate's DER bytes, as join tokens carry it. */
export function caHash(caPem: string): string {
  return 'sha256:' + createHash('sha256').update(new X509Certificate(caPem).raw).digest('hex');
}
