// Skiff's own images, built from Debian's busybox-static and a small static pause program:
// skiff.local/pause and skiff.local/busybox. Built once into a cache directory.
import { execa } from 'execa';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildImage, layoutTar, type BuiltImage } from './oci.ts';
import type { TarEntry } from './tar.ts';

export const PAUSE_IMAGE = 'skiff.local/pause:3.10';
export const BUSYBOX_IMAGE = 'skiff.local/busybox:1.36';
export const BUSYBOX_LATEST = 'skiff.local/busybox:latest';
const PAUSE_SRC = fileURLToPath(new URL('./pause.c', import.meta.url));

const BASE_FILES = (): TarEntry[] => [
  { type: 'dir', path: 'etc' },
  { type: 'dir', path: 'tmp', mode: 0o1777 },
  { type: 'dir', path: 'proc' },
  { type: 'dir', path: 'sys' },
  { type: 'dir', path: 'dev' },
  { type: 'dir', path: 'root', mode: 0o700 },
  { type: 'dir', path: 'var' },
  { type: 'dir', path: 'var/www' },
  { type: 'dir', path: 'home' },
  {
    type: 'file',
    path: 'etc/passwd',
    data: Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n'),
  },
  { type: 'file', path: 'etc/group', data: Buffer.from('root:x:0:\nnogroup:x:65534:\n') },
  { type: 'file', path: 'etc/hostname', data: Buffer.from('skiff\n') },
  { type: 'file', path: 'var/www/index.html', data: Buffer.from('skiff busybox httpd\n') },
];

async function pauseBinary(cache: string): Promise<Buffer> {
  const out = join(cache, 'pause');
  if (!existsSync(out)) {
    const r = await execa('gcc', ['-static', '-Os', '-s', '-o', out, PAUSE_SRC], { reject: false });
    if (r.exitCode !== 0)
      throw new Error(
        `building the pause image needs gcc and a static libc (apt-get install gcc libc6-dev): ${r.stderr}`,
      );
  }
  return readFileSync(out);
}

async function busyboxEntries(): Promise<TarEntry[]> {
  const bb = '/bin/busybox';
  if (!existsSync(bb)) throw new Error('busybox-static is not installed (apt-get install busybox-static)');
  const applets = String((await execa(bb, ['--list'])).stdout)
    .split('\n')
    .filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== 'busybox');
  return [
    ...BASE_FILES(),
    { type: 'dir', path: 'bin' },
    { type: 'file', path: 'bin/busybox', data: readFileSync(bb), mode: 0o755 },
    ...applets.map((a): TarEntry => ({ type: 'symlink', path: `bin/${a}`, target: 'busybox' })),
  ];
}

export async function builtinImages(cache: string): Promise<BuiltImage[]> {
  mkdirSync(cache, { recursive: true });
  const pause = buildImage({
    name: PAUSE_IMAGE,
    entrypoint: ['/pause'],
    entries: [{ type: 'file', path: 'pause', data: await pauseBinary(cache), mode: 0o755 }],
  });
  const entries = await busyboxEntries();
  const busybox = buildImage({ name: BUSYBOX_IMAGE, entries, cmd: ['sh'] });
  return [pause, busybox, { ...busybox, name: BUSYBOX_LATEST }];
}

/** Writes the built-in images as one OCI layout tarball (cached) and returns its path. */
export async function builtinImagesTar(cache: string): Promise<string> {
  const file = join(cache, 'builtin-images.tar');
  if (!existsSync(file)) writeFileSync(file, layoutTar(await builtinImages(cache)));
  return file;
}
