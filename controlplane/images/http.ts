// The read-only OCI distribution API (GET/HEAD /v2/...) serving imported images to every node's
// containerd, and Skiff's import and list endpoints (/skiff/v1/images).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createReadStream } from 'node:fs';
import { readArchive, ArchiveError, normalizeName } from './archive.ts';
import type { ImageStore } from './store.ts';

const MAX_IMPORT = 2 * 1024 * 1024 * 1024;

function ociError(res: ServerResponse, status: number, code: string, message: string) {
  const body = JSON.stringify({ errors: [{ code, message }] });
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    'Docker-Distribution-API-Version': 'registry/2.0',
  });
  res.end(body);
}

export async function serveRegistry(
  store: ImageStore,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return ociError(res, 405, 'UNSUPPORTED', 'this registry is read-only; use `skiff image import`');
  const path = url.pathname;
  const head = { 'Docker-Distribution-API-Version': 'registry/2.0' };
  if (path === '/v2/' || path === '/v2') {
    res.writeHead(200, { ...head, 'Content-Type': 'application/json' });
    res.end('{}');
    return;
  }
  if (path === '/v2/_catalog') {
    const repos = [...new Set(Object.keys(store.tags()).map((n) => n.slice(0, n.lastIndexOf(':'))))].sort();
    res.writeHead(200, { ...head, 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ repositories: repos }));
    return;
  }
  const m = path.match(/^\/v2\/(.+)\/(manifests|blobs|tags)\/([^/]+)$/);
  if (!m) return ociError(res, 404, 'NOT_FOUND', `no route for ${path}`);
  const [, repo, kind, ref] = m;
  const host = url.searchParams.get('ns') ?? 'skiff.local';
  const full = `${host}/${repo}`;
  const tags = store.tags();
  if (kind === 'tags') {
    const list = Object.keys(tags)
      .filter((n) => n.startsWith(full + ':'))
      .map((n) => n.slice(full.length + 1));
    res.writeHead(200, { ...head, 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ name: repo, tags: list }));
    return;
  }
  let digest = ref;
  let mediaType = 'application/octet-stream';
  if (kind === 'manifests') {
    const entry = ref.startsWith('sha256:')
      ? Object.entries(tags).find(([n, t]) => t.digest === ref && n.startsWith(full + ':'))?.[1]
      : tags[`${full}:${ref}`];
    if (!entry) return ociError(res, 404, 'MANIFEST_UNKNOWN', `manifest unknown: ${full}:${ref}`);
    digest = entry.digest;
    mediaType = entry.mediaType;
  }
  const file = store.blobPath(digest);
  if (!file) return ociError(res, 404, kind === 'blobs' ? 'BLOB_UNKNOWN' : 'MANIFEST_UNKNOWN', `unknown ${digest}`);
  res.writeHead(200, {
    ...head,
    'Content-Type': mediaType,
    'Content-Length': store.blobSize(digest),
    'Docker-Content-Digest': digest,
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(file).pipe(res);
}

async function readAll(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > limit) throw new ArchiveError(`archive larger than ${limit} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** POST /skiff/v1/images: import a tarball. GET: list what is there. */
export async function serveImages(store: ImageStore, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const send = (code: number, body: unknown) => {
    const s = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(s) });
    res.end(s);
  };
  if (req.method === 'GET') {
    return send(200, {
      images: Object.entries(store.tags())
        .map(([name, t]) => ({ name, ...t }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    });
  }
  if (req.method !== 'POST')
    return send(405, {
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason: 'MethodNotAllowed',
      code: 405,
      message: 'GET or POST',
    });
  try {
    const archive = readArchive(await readAll(req, MAX_IMPORT));
    const names = store.add(archive);
    return send(200, {
      imported: names.map((n) => ({ name: n, digest: store.tags()[n].digest, size: store.tags()[n].size })),
    });
  } catch (e) {
    if (e instanceof ArchiveError)
      return send(400, {
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        reason: 'BadRequest',
        code: 400,
        message: e.message,
      });
    throw e;
  }
}

export { normalizeName };
