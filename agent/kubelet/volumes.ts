// Pod volumes on the node: emptyDir (disk, or tmpfs for medium Memory), hostPath (with type
// checks), configMap, secret, downwardAPI and projected files. File volumes are written as
// kubelet does: a timestamped directory, a `..data` symlink swapped atomically, and per-key
// links into it, so a changed ConfigMap shows up in running containers.
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { quantity } from '../../controlplane/shared/resources.ts';
import type {
  ConfigMap,
  KeyToPath,
  ObjectFieldSelector,
  Secret,
  Volume,
} from '../../controlplane/shared/kube/index.ts';

export class VolumeError extends Error {}

export interface FileSources {
  configMap(name: string): ConfigMap | undefined;
  secret(name: string): Secret | undefined;
  field(path: string): string;
}

type Files = Map<string, { data: Buffer; mode: number }>;

/** A configMap or secret reference in a volume or a projection. */
interface KeysRef {
  items?: KeyToPath[];
  optional?: boolean;
}

function keysToFiles(
  data: Record<string, Buffer>,
  items: KeyToPath[] | undefined,
  mode: number,
  out: Files,
  what: string,
) {
  if (items?.length) {
    for (const it of items) {
      if (!(it.key in data)) throw new VolumeError(`${what} has no key "${it.key}"`);
      out.set(it.path, { data: data[it.key], mode: it.mode ?? mode });
    }
  } else for (const [k, v] of Object.entries(data)) out.set(k, { data: v, mode });
}

function cmData(cm: ConfigMap): Record<string, Buffer> {
  const d: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(cm.data ?? {})) d[k] = Buffer.from(String(v));
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) d[k] = Buffer.from(String(v), 'base64');
  return d;
}
function secretData(s: Secret): Record<string, Buffer> {
  const d: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(s.data ?? {})) d[k] = Buffer.from(String(v), 'base64');
  return d;
}

/** The files a configMap/secret/downwardAPI/projected volume holds, or null for other kinds. */
export function volumeFiles(v: Volume, src: FileSources): Files | null {
  const out: Files = new Map();
  const addCm = (ref: KeysRef & { name: string }, mode: number) => {
    const cm = src.configMap(ref.name);
    if (!cm) {
      if (ref.optional) return;
      throw new VolumeError(`configmap "${ref.name}" not found`);
    }
    keysToFiles(cmData(cm), ref.items, mode, out, `configmap "${ref.name}"`);
  };
  const addSecret = (name: string, ref: KeysRef, mode: number) => {
    const s = src.secret(name);
    if (!s) {
      if (ref.optional) return;
      throw new VolumeError(`secret "${name}" not found`);
    }
    keysToFiles(secretData(s), ref.items, mode, out, `secret "${name}"`);
  };
  const addDownward = (
    items: { path: string; fieldRef?: ObjectFieldSelector; mode?: number }[] | undefined,
    mode: number,
  ) => {
    for (const it of items ?? [])
      if (it.fieldRef) out.set(it.path, { data: Buffer.from(src.field(it.fieldRef.fieldPath)), mode: it.mode ?? mode });
  };
  if (v.configMap) addCm(v.configMap, v.configMap.defaultMode ?? 0o644);
  else if (v.secret) addSecret(v.secret.secretName, v.secret, v.secret.defaultMode ?? 0o644);
  else if (v.downwardAPI) addDownward(v.downwardAPI.items, v.downwardAPI.defaultMode ?? 0o644);
  else if (v.projected) {
    const mode = v.projected.defaultMode ?? 0o644;
    for (const s of v.projected.sources ?? []) {
      if (s.configMap) addCm(s.configMap, mode);
      if (s.secret) addSecret(s.secret.name, s.secret, mode);
      if (s.downwardAPI) addDownward(s.downwardAPI.items, mode);
    }
  } else return null;
  return out;
}

/** Writes files with the ..data symlink swap; unchanged content is left alone. */
export function writeAtomic(dir: string, files: Files): boolean {
  mkdirSync(dir, { recursive: true });
  const sig = JSON.stringify([...files].map(([p, f]) => [p, f.mode, f.data.toString('base64')]).sort());
  const sigFile = join(dir, '..signature');
  try {
    if (
      existsSync(sigFile) &&
      statSync(sigFile).isFile() &&
      readdirSync(dir).length &&
      readFileSync(sigFile, 'utf8') === sig
    )
      return false;
  } catch {
    /* rewrite */
  }
  const ts = join(dir, `..${Date.now()}_${process.hrtime.bigint()}`);
  mkdirSync(ts);
  for (const [p, f] of files) {
    const target = join(ts, p);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, f.data);
    chmodSync(target, f.mode);
  }
  const tmpLink = join(dir, '..data_tmp');
  rmSync(tmpLink, { force: true });
  symlinkSync(ts.slice(dir.length + 1), tmpLink);
  const old = existsSync(join(dir, '..data')) ? readlinkSync(join(dir, '..data')) : null;
  renameSync(tmpLink, join(dir, '..data'));
  const tops = new Set([...files.keys()].map((p) => p.split('/')[0]));
  for (const name of readdirSync(dir)) {
    if (name.startsWith('..')) continue;
    if (!tops.has(name)) rmSync(join(dir, name), { force: true, recursive: true });
  }
  for (const top of tops) {
    const link = join(dir, top);
    let ok = false;
    try {
      ok = lstatSync(link).isSymbolicLink() && readlinkSync(link) === join('..data', top);
    } catch {
      /* missing */
    }
    if (!ok) {
      rmSync(link, { force: true, recursive: true });
      symlinkSync(join('..data', top), link);
    }
  }
  if (old) rmSync(join(dir, old), { recursive: true, force: true });
  writeFileSync(sigFile, sig);
  return true;
}

/** Makes a volume's host directory ready; returns its path. */
export function prepareVolume(podDir: string, v: Volume, src: FileSources): string {
  const dir = join(podDir, 'volumes', v.name);
  if (v.hostPath) {
    const p = v.hostPath.path;
    const t = v.hostPath.type ?? '';
    const exists = existsSync(p);
    if (t === 'DirectoryOrCreate' && !exists) mkdirSync(p, { recursive: true, mode: 0o755 });
    else if (t === 'FileOrCreate' && !exists) {
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, '');
    } else if (t === 'Directory' && !(exists && statSync(p).isDirectory()))
      throw new VolumeError(`hostPath type check failed: ${p} is not a directory`);
    else if (t === 'File' && !(exists && statSync(p).isFile()))
      throw new VolumeError(`hostPath type check failed: ${p} is not a file`);
    else if (t === 'Socket' && !(exists && statSync(p).isSocket()))
      throw new VolumeError(`hostPath type check failed: ${p} is not a socket`);
    return p;
  }
  if (v.emptyDir) {
    if (!existsSync(dir)) {
      mkdirSync(dir, { recursive: true, mode: 0o777 });
      chmodSync(dir, 0o777);
      if (v.emptyDir.medium === 'Memory') {
        const size = v.emptyDir.sizeLimit ? `,size=${Math.ceil(quantity(v.emptyDir.sizeLimit))}` : '';
        execFileSync('mount', ['-t', 'tmpfs', '-o', `mode=0777${size}`, 'tmpfs', dir]);
      }
    }
    return dir;
  }
  const files = volumeFiles(v, src);
  if (files) {
    writeAtomic(dir, files);
    return dir;
  }
  throw new VolumeError(`volume "${v.name}": this volume type is not supported by the Skiff agent yet`);
}

/** Removes a pod's volume directories (unmounting tmpfs first). */
export function removePodVolumes(podDir: string) {
  const vols = join(podDir, 'volumes');
  if (existsSync(vols))
    for (const v of readdirSync(vols)) {
      try {
        execFileSync('umount', [join(vols, v)], { stdio: 'ignore' });
      } catch {
        /* not a mount */
      }
    }
  rmSync(podDir, { recursive: true, force: true });
}
