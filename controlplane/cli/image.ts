// `skiff image import FILE` and `skiff image ls`, against the server named by a kubeconfig.
import { readFileSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { parse as parseYaml } from 'yaml';

interface Target {
  server: string;
  ca: string;
  token: string;
}

export function targetFromKubeconfig(file: string): Target {
  // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
  let cfg: any;
  try {
    cfg = parseYaml(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read kubeconfig ${file}: ${(e as Error).message}`);
  }
  const ctx =
    // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
    (cfg.contexts ?? []).find((c: any) => c.name === cfg['current-context'])?.context ?? cfg.contexts?.[0]?.context;
  // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
  const cluster = (cfg.clusters ?? []).find((c: any) => c.name === ctx?.cluster)?.cluster;
  // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
  const user = (cfg.users ?? []).find((u: any) => u.name === ctx?.user)?.user;
  if (!cluster?.server || !user?.token) throw new Error(`kubeconfig ${file} has no server or token`);
  return {
    server: cluster.server,
    ca: Buffer.from(cluster['certificate-authority-data'] ?? '', 'base64').toString(),
    token: user.token,
  };
}

function call(
  t: Target,
  method: string,
  path: string,
  body?: Buffer,
  onProgress?: (sent: number) => void,
  // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
): Promise<{ status: number; json: any }> {
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
  for (const i of r.json.imported) out(`imported ${i.name} ${i.digest} (${human(i.size)})`);
}

export async function imageList(t: Target, out: (s: string) => void): Promise<void> {
  const r = await call(t, 'GET', '/skiff/v1/images');
  if (r.status !== 200) throw new Error(r.json.message ?? `HTTP ${r.status}`);
  out(['IMAGE'.padEnd(50), 'DIGEST'.padEnd(20), 'SIZE'].join(' '));
  for (const i of r.json.images) out([i.name.padEnd(50), i.digest.slice(0, 19).padEnd(20), human(i.size)].join(' '));
}
