import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readArchive, normalizeName, ArchiveError } from '../../controlplane/images/archive.ts';
import { readTar } from '../../controlplane/images/tar-reader.ts';
import { buildImage, layoutTar } from '../../agent/images/oci.ts';
import { tar } from '../../agent/images/tar.ts';

test('image names normalize as containerd does', () => {
  const cases: [string, string][] = [
    ['nginx', 'docker.io/library/nginx:latest'],
    ['nginx:1.25', 'docker.io/library/nginx:1.25'],
    ['me/app:2', 'docker.io/me/app:2'],
    ['skiff.local/busybox:1.36', 'skiff.local/busybox:1.36'],
    ['localhost:5000/x', 'localhost:5000/x:latest'],
    ['ghcr.io/o/r:v1', 'ghcr.io/o/r:v1'],
  ];
  for (const [i, o] of cases) assert.equal(normalizeName(i), o);
  for (const bad of ['', 'UPPER/case', 'a b']) assert.throws(() => normalizeName(bad), ArchiveError);
});

test('tar round trip, including long paths and symlinks', () => {
  const long = 'a/'.repeat(60) + 'file.txt';
  const files = readTar(
    tar([
      { type: 'dir', path: 'a' },
      { type: 'file', path: long, data: Buffer.from('x') },
      { type: 'symlink', path: 'l', target: 'file.txt' },
    ]),
  );
  assert.deepEqual(
    files.map((f) => [f.type, f.path]),
    [
      ['dir', 'a/'],
      ['file', long],
      ['symlink', 'l'],
    ],
  );
  assert.equal(files[2].linkname, 'file.txt');
});

test('OCI layouts are read and checked; corruption anywhere rejects the whole archive', () => {
  const img = buildImage({
    name: 'skiff.local/t:1',
    entries: [{ type: 'file', path: 'f', data: Buffer.from('data') }],
  });
  const good = readArchive(layoutTar([img]));
  assert.deepEqual(
    good.images.map((i) => i.name),
    ['skiff.local/t:1'],
  );
  assert.equal(good.blobs.size, 3);
  const bytes = layoutTar([img]);
  const flipped = Buffer.from(bytes);
  const at = flipped.indexOf(Buffer.from('data'));
  flipped[at] = 'D'.charCodeAt(0);
  assert.throws(() => readArchive(flipped), /does not match its digest/);
  assert.throws(() => readArchive(bytes.subarray(0, bytes.length - 2000)), /truncated archive/);
  assert.throws(() => readArchive(Buffer.from('hello world')), ArchiveError);
  assert.throws(
    () => readArchive(tar([{ type: 'file', path: 'readme', data: Buffer.from('x') }])),
    /neither an OCI image layout/,
  );
});

test('malformed index.json and manifest.json entries are archive errors, never a TypeError', () => {
  const archive = (files: Record<string, unknown>) =>
    tar(
      Object.entries(files).map(([path, v]) => ({
        type: 'file' as const,
        path,
        data: Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)),
      })),
    );
  const digest = `sha256:${'0'.repeat(64)}`;
  const cases: [Record<string, unknown>, RegExp][] = [
    [
      { 'oci-layout': '{}', 'index.json': { manifests: [{ digest, annotations: { 'io.containerd.image.name': 7 } }] } },
      /a manifest of index.json is not a valid descriptor/,
    ],
    [{ 'oci-layout': '{}', 'index.json': { manifests: [{ digest: 5 }] } }, /not a valid descriptor/],
    [{ 'oci-layout': '{}', 'index.json': { manifests: {} } }, /index.json is not an image index/],
    [{ 'manifest.json': [{ Config: 'c.json', RepoTags: ['x:1'], Layers: 'l.tar' }] }, /entry of manifest.json/],
    [{ 'manifest.json': [{ Config: 3, Layers: [] }] }, /entry of manifest.json/],
    [{ 'manifest.json': [null] }, /entry of manifest.json/],
  ];
  for (const [files, msg] of cases)
    assert.throws(
      () => readArchive(archive(files)),
      (e: unknown) => e instanceof ArchiveError && msg.test(e.message),
      JSON.stringify(files),
    );
});
