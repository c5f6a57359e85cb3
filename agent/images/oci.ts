// Builds OCI images (one uncompressed layer, config, manifest, index) as an OCI layout
// tarball that `ctr images import` and Skiff's registry take.
import { createHash } from 'node:crypto';
import { tar, type TarEntry } from './tar.ts';

export interface ImageSpec {
  name: string; // e.g. skiff.local/busybox:1.36
  entries: TarEntry[];
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
}

export const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
};

export interface Blob {
  digest: string;
  data: Buffer;
  mediaType: string;
}
export interface BuiltImage {
  name: string;
  manifest: Blob;
  config: Blob;
  layers: Blob[];
}

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const blob = (data: Buffer, mediaType: string): Blob => ({ digest: sha(data), data, mediaType });

export function buildImage(spec: ImageSpec): BuiltImage {
  const layer = blob(tar(spec.entries), MEDIA.layer);
  const config = blob(
    Buffer.from(
      JSON.stringify({
        created: '2026-01-01T00:00:00Z',
        architecture: 'amd64',
        os: 'linux',
        config: {
          Env: spec.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
          ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
          ...(spec.cmd ? { Cmd: spec.cmd } : {}),
          ...(spec.workingDir ? { WorkingDir: spec.workingDir } : {}),
        },
        rootfs: { type: 'layers', diff_ids: [layer.digest] },
        history: [{ created: '2026-01-01T00:00:00Z', created_by: 'skiff image builder' }],
      }),
    ),
    MEDIA.config,
  );
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA.manifest,
        config: { mediaType: MEDIA.config, digest: config.digest, size: config.data.length },
        layers: [{ mediaType: MEDIA.layer, digest: layer.digest, size: layer.data.length }],
      }),
    ),
    MEDIA.manifest,
  );
  return { name: spec.name, manifest, config, layers: [layer] };
}

/** An OCI image layout (oci-layout, index.json, blobs/sha256/...) as one tar, for `ctr images import`. */
export function layoutTar(images: BuiltImage[]): Buffer {
  const blobs = new Map<string, Buffer>();
  const manifests = images.map((img) => {
    for (const b of [img.manifest, img.config, ...img.layers]) blobs.set(b.digest, b.data);
    const tag = img.name.slice(img.name.lastIndexOf(':') + 1);
    return {
      mediaType: MEDIA.manifest,
      digest: img.manifest.digest,
      size: img.manifest.data.length,
      annotations: { 'io.containerd.image.name': img.name, 'org.opencontainers.image.ref.name': tag },
    };
  });
  const entries: TarEntry[] = [
    { type: 'file', path: 'oci-layout', data: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })) },
    {
      type: 'file',
      path: 'index.json',
      data: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests })),
    },
    { type: 'dir', path: 'blobs' },
    { type: 'dir', path: 'blobs/sha256' },
  ];
  for (const [digest, data] of blobs) entries.push({ type: 'file', path: `blobs/sha256/${digest.slice(7)}`, data });
  return tar(entries);
}
