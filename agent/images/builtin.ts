// Skiff's own images, built from Debian's busybox-static and a small static pause program:
// skiff.local/pause and skiff.local/busybox. Built once into a cache directory.
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildImage, layoutTar, type BuiltImage } from './oci.ts';
import type { TarEntry } from './tar.ts';
import { withDirLock } from '../../controlplane/shared/dir-lock.ts';

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

/** The static pause program, compiled once into the cache (call under the cache lock). */
async function pauseBinary(cache: string): Promise<Buffer> {
  const out = join(cache, 'pause');
  const known = readVerified(out);
  if (known) return known;
  const tmp = `${out}.${process.pid}.tmp`;
  const r = await execa('gcc', ['-static', '-Os', '-s', '-o', tmp, PAUSE_SRC], { reject: false });
  if (r.exitCode !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(
      `building the pause image needs gcc and a static libc (apt-get install gcc libc6-dev): ${r.stderr}`,
    );
  }
  const bin = readFileSync(tmp);
  if (bin.subarray(0, 4).toString('latin1') !== '\x7fELF') throw new Error(`gcc wrote no ELF binary at ${tmp}`);
  publish(out, tmp, bin);
  return bin;
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

async function builtinImages(cache: string): Promise<BuiltImage[]> {
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

/**
 * Writes the built-in images as one OCI layout tarball into the cache (once) and returns its path.
 * Several agents start at once on one machine and share the cache: the build runs under a lock
 * the others wait on, each artifact is written to a temporary file and renamed into place, and a
 * sha256 beside it is checked on every use, so no agent ever reads a half-written file and every
 * node imports byte-identical images.
 */
export async function builtinImagesTar(cache: string): Promise<string> {
  mkdirSync(cache, { recursive: true });
  const file = join(cache, 'builtin-images.tar');
  return withDirLock(
    join(cache, '.lock'),
    async () => {
      if (readVerified(file)) return file;
      const tmp = `${file}.${process.pid}.tmp`;
      const data = layoutTar(await builtinImages(cache));
      writeFileSync(tmp, data);
      publish(file, tmp, data);
      return file;
    },
    120_000,
  );
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Moves tmp into place with its checksum beside it; the checksum goes last, so it vouches for the file. */
function publish(file: string, tmp: string, data: Buffer): void {
  rmSync(`${file}.sha256`, { force: true });
  renameSync(tmp, file);
  const sumTmp = `${file}.sha256.${process.pid}.tmp`;
  writeFileSync(sumTmp, `${sha256(data)}\n`);
  renameSync(sumTmp, `${file}.sha256`);
}

/** The file's content if it exists and matches its recorded checksum, else null (and it is removed). */
function readVerified(file: string): Buffer | null {
  if (!existsSync(file)) return null;
  let want = '';
  try {
    want = readFileSync(`${file}.sha256`, 'utf8').trim();
  } catch {
    /* no checksum: an old cache or an interrupted build */
  }
  const data = readFileSync(file);
  if (want && sha256(data) === want) return data;
  rmSync(file, { force: true });
  return null;
}
