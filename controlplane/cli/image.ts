// `skiff image import FILE` and `skiff image ls`, against the server named by a kubeconfig.
import { readFileSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { parse as parseYaml } from 'yaml';

interface Target {
  server: string;
  ca: string;
  token: string;
}

/** The parts of a kubeconfig (clientcmd v1) this command reads. */
interface Kubeconfig {
  'current-context'?: string;
  contexts?: { name: string; context?: { cluster?: string; user?: string } }[];
  clusters?: { name: string; cluster?: { server?: string; 'certificate-authority-data'?: string } }[];
  users?: { name: string; user?: { token?: string } }[];
}

export function targetFromKubeconfig(file: string): Target {
  let cfg: Kubeconfig;
  try {
    cfg = parseYaml(readFileSync(file, 'utf8')) ?? {};
  } catch (e) {
    throw new Error(`cannot read kubeconfig ${file}: ${(e as Error).message}`);
  }
  const list = <T>(v: T[] | undefined): T[] => (Array.isArray(v) ? v : []);
  const ctx =
    list(cfg.contexts).find((c) => c?.name === cfg['current-context'])?.context ?? list(cfg.contexts)[0]?.context;
  const cluster = list(cfg.clusters).find((c) => c?.name === ctx?.cluster)?.cluster;
  const user = list(cfg.users).find((u) => u?.name === ctx?.user)?.user;
  if (typeof cluster?.server !== 'string' || typeof user?.token !== 'string')
    throw new Error(`kubeconfig ${file} has no server or token`);
  return {
    server: cluster.server,
    ca: Buffer.from(String(cluster['certificate-authority-data'] ?? ''), 'base64').toString(),
    token: user.token,
  };
}

/** /skiff/v1/images answers: a list, an import's result, or a Status-like error. */
interface ImagesAnswer {
  message?: string;
  images?: { name: string; digest: string; size: number }[];
  imported?: { name: string; digest: string; size: number }[];
}

function call(
  t: Target,
  method: string,
  path: string,
  body?: Buffer,
  onProgress?: (sent: number) => void,
): Promise<{ status: number; json: ImagesAnswer }> {
  return new Promise((resolve, reject) => {
    const r = request(
      t.server + path,
      {
        method,
        ca: t.ca,
        headers: {
          Authorization: `Bearer ${t.token}`,
          ...(body ? { 'Content-Type': 'application/x-tar', 'Content-Length': body.length } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) });
          } catch {
            resolve({ status: res.statusCode ?? 0, json: { message: text } });
          }
        });
      },
    );
    r.on('error', reject);
    if (body) {
      const step = 1 << 20;
      let sent = 0;
      const pump = () => {
        while (sent < body.length) {
          const chunk = body.subarray(sent, sent + step);
          sent += chunk.length;
          onProgress?.(sent);
          if (!r.write(chunk)) {
            r.once('drain', pump);
            return;
          }
        }
        r.end();
      };
      pump();
    } else r.end();
  });
}

const human = (n: number) => (n > 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`);

export async function imageImport(
  file: string,
  t: Target,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<void> {
  let data: Buffer;
  try {
    statSync(file);
    data = readFileSync(file);
  } catch {
    throw new Error(`cannot read ${file}`);
  }
  let last = -1;
  const r = await call(t, 'POST', '/skiff/v1/images', data, (sent) => {
    const pct = Math.floor((sent / data.length) * 100);
    if (pct !== last && (pct % 10 === 0 || sent === data.length)) {
      last = pct;
      err(`uploading ${file}: ${pct}% of ${human(data.length)}`);
    }
  });
  if (r.status !== 200) throw new Error(`import refused: ${r.json.message ?? `HTTP ${r.status}`}`);
  for (const i of r.json.imported ?? []) out(`imported ${i.name} ${i.digest} (${human(i.size)})`);
}

export async function imageList(t: Target, out: (s: string) => void): Promise<void> {
  const r = await call(t, 'GET', '/skiff/v1/images');
  if (r.status !== 200) throw new Error(r.json.message ?? `HTTP ${r.status}`);
  out(['IMAGE'.padEnd(50), 'DIGEST'.padEnd(20), 'SIZE'].join(' '));
  for (const i of r.json.images ?? [])
    out([i.name.padEnd(50), i.digest.slice(0, 19).padEnd(20), human(i.size)].join(' '));
}
