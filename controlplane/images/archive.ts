// Turns an image tarball into registry content: an OCI image layout (index.json + blobs) or a
// `docker save` archive (manifest.json + config + layer tars). Every blob's digest is checked;
// anything missing or inconsistent rejects the whole archive.
import { createHash } from 'node:crypto';
import { readTar, TarError } from './tar-reader.ts';

export class ArchiveError extends Error {}

export interface ImportedImage {
  name: string;
  manifestDigest: string;
  mediaType: string;
}
export interface Archive {
  images: ImportedImage[];
  blobs: Map<string, Buffer>;
}

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

/** Normalizes an image reference the way containerd does: docker.io/library/x:latest. */
export function normalizeName(ref: string): string {
  let name = ref.trim();
  if (!name) throw new ArchiveError('empty image name');
  const at = name.indexOf('@');
  if (at >= 0) name = name.slice(0, at);
  const lastSlash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon <= lastSlash) name += ':latest';
  const first = name.split('/')[0];
  if (!name.includes('/') || (!first.includes('.') && !first.includes(':') && first !== 'localhost')) {
    name = name.includes('/') ? `docker.io/${name}` : `docker.io/library/${name}`;
  }
  if (!/^[a-z0-9.:-]+(\/[a-z0-9._-]+)+:[\w][\w.-]{0,127}$/.test(name))
    throw new ArchiveError(`invalid image name "${ref}"`);
  return name;
}

/** An OCI content descriptor (the fields read here). */
interface Descriptor {
  mediaType?: string;
  digest: string;
  size?: number;
  annotations?: Record<string, string>;
}

/** One entry of a `docker save` manifest.json. */
interface DockerSaveEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

function json(b: Buffer | undefined, what: string): unknown {
  if (!b) throw new ArchiveError(`${what} is missing`);
  try {
    return JSON.parse(b.toString());
  } catch {
    throw new ArchiveError(`${what} is not valid JSON`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** A descriptor as the archive gives it: a string digest, a numeric size and string annotations if present. */
function descriptor(v: unknown, what: string): Descriptor {
  if (
    !isObject(v) ||
    typeof v.digest !== 'string' ||
    (v.size !== undefined && typeof v.size !== 'number') ||
    (v.mediaType !== undefined && typeof v.mediaType !== 'string') ||
    (v.annotations !== undefined &&
      !(isObject(v.annotations) && Object.values(v.annotations).every((x) => typeof x === 'string')))
  )
    throw new ArchiveError(`${what} is not a valid descriptor (digest, size, annotations)`);
  return v as unknown as Descriptor;
}

function checkManifest(digest: string, blobs: Map<string, Buffer>): string {
  const m = json(blobs.get(digest), `manifest ${digest}`);
  if (!isObject(m)) throw new ArchiveError(`manifest ${digest} is not a JSON object`);
  const mediaType = m.mediaType ?? OCI_MANIFEST;
  if (mediaType === OCI_INDEX)
    throw new ArchiveError('multi-platform image indexes are not supported yet; import a single-platform image');
  if (typeof mediaType !== 'string') throw new ArchiveError(`manifest ${digest} has an invalid mediaType`);
  if (!isObject(m.config) || !Array.isArray(m.layers))
    throw new ArchiveError(`manifest ${digest} has no config or layers`);
  const refs = [m.config, ...m.layers].map((d) => descriptor(d, `a blob of manifest ${digest}`));
  for (const d of refs) {
    const b = blobs.get(d.digest);
    if (!b) throw new ArchiveError(`blob ${d.digest} named by manifest ${digest} is missing from the archive`);
    if (d.size !== undefined && d.size !== b.length)
      throw new ArchiveError(`blob ${d.digest} has ${b.length} bytes, the manifest says ${d.size}`);
  }
  return mediaType;
}

function fromOciLayout(files: Map<string, Buffer>): Archive {
  const blobs = new Map<string, Buffer>();
  for (const [path, data] of files) {
    const m = path.match(/^blobs\/sha256\/([0-9a-f]{64})$/);
    if (!m) continue;
    const digest = `sha256:${m[1]}`;
    if (sha(data) !== digest) throw new ArchiveError(`blob ${digest} does not match its digest (corrupt archive)`);
    blobs.set(digest, data);
  }
  const index = json(files.get('index.json'), 'index.json');
  if (!isObject(index) || (index.manifests !== undefined && !Array.isArray(index.manifests)))
    throw new ArchiveError('index.json is not an image index (manifests)');
  const images: ImportedImage[] = [];
  for (const raw of index.manifests ?? []) {
    const d = descriptor(raw, 'a manifest of index.json');
    const ref = d.annotations?.['io.containerd.image.name'] ?? d.annotations?.['org.opencontainers.image.ref.name'];
    if (!ref) continue;
    if (!blobs.has(d.digest)) throw new ArchiveError(`manifest ${d.digest} is missing from the archive`);
    images.push({
      name: normalizeName(ref.includes('/') || ref.includes(':') ? ref : `skiff.local/imported:${ref}`),
      manifestDigest: d.digest,
      mediaType: checkManifest(d.digest, blobs),
    });
  }
  if (!images.length) throw new ArchiveError('index.json names no image (annotation io.containerd.image.name)');
  return { images, blobs };
}

function fromDockerSave(files: Map<string, Buffer>): Archive {
  const list = json(files.get('manifest.json'), 'manifest.json');
  if (!Array.isArray(list)) throw new ArchiveError('manifest.json is not a list');
  const blobs = new Map<string, Buffer>();
  const images: ImportedImage[] = [];
  for (const raw of list) {
    if (
      !isObject(raw) ||
      typeof raw.Config !== 'string' ||
      !isStrings(raw.Layers) ||
      !(raw.RepoTags === undefined || raw.RepoTags === null || isStrings(raw.RepoTags))
    )
      throw new ArchiveError('an entry of manifest.json is not {Config, RepoTags, Layers} with string values');
    const entry = raw as unknown as DockerSaveEntry;
    const config = files.get(entry.Config);
    if (!config) throw new ArchiveError(`config ${entry.Config} is missing from the archive`);
    const layers = entry.Layers.map((p) => {
      const b = files.get(p);
      if (!b) throw new ArchiveError(`layer ${p} is missing from the archive`);
      return b;
    });
    const cfg = json(config, entry.Config);
    const rootfs = isObject(cfg) && isObject(cfg.rootfs) ? cfg.rootfs : {};
    const diffIds = isStrings(rootfs.diff_ids) ? rootfs.diff_ids : [];
    layers.forEach((l, i) => {
      if (diffIds[i] && diffIds[i] !== sha(l))
        throw new ArchiveError(`layer ${entry.Layers[i]} does not match its diff_id (corrupt archive)`);
      blobs.set(sha(l), l);
    });
    blobs.set(sha(config), config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: DOCKER_MANIFEST,
        config: {
          mediaType: 'application/vnd.docker.container.image.v1+json',
          digest: sha(config),
          size: config.length,
        },
        layers: layers.map((l) => ({
          mediaType: 'application/vnd.docker.image.rootfs.diff.tar',
          digest: sha(l),
          size: l.length,
        })),
      }),
    );
    blobs.set(sha(manifest), manifest);
    for (const tag of entry.RepoTags ?? [])
      images.push({ name: normalizeName(tag), manifestDigest: sha(manifest), mediaType: DOCKER_MANIFEST });
  }
  if (!images.length) throw new ArchiveError('manifest.json names no tagged image');
  return { images, blobs };
}

export function readArchive(buf: Buffer): Archive {
  let entries: ReturnType<typeof readTar>;
  try {
    entries = readTar(buf);
  } catch (e) {
    if (e instanceof TarError) throw new ArchiveError(`not a valid image tarball: ${e.message}`);
    throw e;
  }
  const files = new Map(entries.filter((e) => e.type === 'file').map((e) => [e.path, e.data]));
  if (files.has('index.json') && files.has('oci-layout')) return fromOciLayout(files);
  if (files.has('manifest.json')) return fromDockerSave(files);
  throw new ArchiveError(
    'neither an OCI image layout (oci-layout, index.json) nor a `docker save` archive (manifest.json)',
  );
}
