// The registry's content on disk: blobs by digest and a tag index, written so a failed import
// leaves nothing behind (blobs are written to temp files and renamed; the index last).
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Archive } from './archive.ts';

export interface TagEntry {
  digest: string;
  mediaType: string;
  size: number;
  importedAt: string;
}

export class ImageStore {
  private dir: string;
  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(join(dir, 'blobs'), { recursive: true });
  }
  private indexFile() {
    return join(this.dir, 'index.json');
  }
  tags(): Record<string, TagEntry> {
    try {
      return JSON.parse(readFileSync(this.indexFile(), 'utf8'));
    } catch {
      return {};
    }
  }
  blobPath(digest: string): string | null {
    const m = digest.match(/^sha256:([0-9a-f]{64})$/);
    if (!m) return null;
    const p = join(this.dir, 'blobs', m[1]);
    return existsSync(p) ? p : null;
  }
  blobSize(digest: string): number {
    const p = this.blobPath(digest);
    return p ? statSync(p).size : -1;
  }

  add(a: Archive): string[] {
    for (const [digest, data] of a.blobs) {
      const p = join(this.dir, 'blobs', digest.slice(7));
      if (existsSync(p)) continue;
      writeFileSync(p + '.tmp', data);
      renameSync(p + '.tmp', p);
    }
    const tags = this.tags();
    const now = new Date().toISOString();
    for (const img of a.images) {
      const manifest = JSON.parse(a.blobs.get(img.manifestDigest)!.toString());
      const size = [manifest.config, ...manifest.layers].reduce((n: number, d: { size: number }) => n + d.size, 0);
      tags[img.name] = { digest: img.manifestDigest, mediaType: img.mediaType, size, importedAt: now };
    }
    writeFileSync(this.indexFile() + '.tmp', JSON.stringify(tags, null, 2));
    renameSync(this.indexFile() + '.tmp', this.indexFile());
    return a.images.map((i) => i.name);
  }
}
