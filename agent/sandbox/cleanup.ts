// Teardown helpers that remove what a node's containerd left behind: pods through CRI first,
// then shim processes (found by their socket address, killed by PID), then container processes
// whose shim is gone (found by their root mount), then mounts under the node's state directory,
// deepest first.
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { execa } from 'execa';
import { CriClient } from '../cri/client.ts';

export async function removeAllPods(socket: string): Promise<number> {
  const cri = new CriClient(socket);
  let n = 0;
  try {
    const { items } = await cri.listPodSandbox();
    for (const p of items) {
      await cri.stopPodSandbox(p.id).catch(() => {});
      await cri.removePodSandbox(p.id).catch(() => {});
      n++;
    }
  } catch {
    /* containerd already gone */
  } finally {
    cri.close();
  }
  return n;
}

/** PIDs of processes whose command line mentions `marker` (a path unique to one node). */
export function pidsMentioning(marker: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (cmd.includes(marker)) out.push(Number(d));
    } catch {
      /* exited */
    }
  }
  return out;
}

/**
 * PIDs of processes whose root filesystem is an overlay with its upper layer under `dir`: the
 * processes of containers whose snapshots live there. A container whose shim was killed first is
 * reparented and mentions nothing of `dir` on its command line; its root overlay still does. Only
 * the root mount is looked at: other processes may see mounts under `dir` (services with their
 * own mount namespace, VMs' helpers, a container with the host's root bound in), but none has its
 * root there.
 */
export function pidsOfContainersUnder(dir: string): number[] {
  const upper = `upperdir=${dir.endsWith('/') ? dir : `${dir}/`}`;
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      // The last mount on "/" is the one the process sees as its root.
      const root = readFileSync(`/proc/${d}/mountinfo`, 'utf8')
        .split('\n')
        .filter((l) => l.split(' ')[4] === '/')
        .pop();
      const [, after = ''] = (root ?? '').split(' - ');
      const [fstype, , options = ''] = after.split(' ');
      if (fstype === 'overlay' && options.split(',').some((o) => o.startsWith(upper))) out.push(Number(d));
    } catch {
      /* exited, or a kernel thread */
    }
  }
  return out;
}

/** Sends `signal` (SIGTERM unless given), then SIGKILL to what is still there after `graceMs`. */
export async function killPids(pids: number[], graceMs = 3000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  for (const p of pids) {
    try {
      process.kill(p, signal);
    } catch {
      /* gone */
    }
  }
  const end = Date.now() + graceMs;
  const alive = () =>
    pids.filter((p) => {
      try {
        process.kill(p, 0);
        return true;
      } catch {
        return false;
      }
    });
  while (alive().length && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  for (const p of alive()) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

export function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : dir + '/';
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m) => m && (m === dir || m.startsWith(prefix)))
    .map((m) => m.replace(/\\040/g, ' '))
    .sort((a, b) => b.length - a.length);
}

export async function unmountUnder(dir: string): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const mounts = mountsUnder(dir);
    if (!mounts.length) return;
    for (const m of mounts) await execa('umount', ['-l', m], { reject: false });
  }
}

/** PIDs of the processes in a named network namespace (the inode of its file is the namespace's id). */
export function pidsInNetns(ns: string): number[] {
  let want: string;
  try {
    want = `net:[${statSync(`/run/netns/${ns}`).ino}]`;
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (readlinkSync(`/proc/${d}/ns/net`) === want) out.push(Number(d));
    } catch {
      /* exited */
    }
  }
  return out;
}

/** Where containerd's CNI library caches each attachment's result (on the host: one directory for all). */
export const CNI_CACHE = '/var/lib/cni/results';

/**
 * Cached CNI results of attachments whose network namespace lies under `dir` (a sandbox's nodes
 * keep their pods' namespaces under their state directory). A pod removed through CRI takes its
 * entry with it; one whose teardown never ran (its containerd killed first) leaves it here.
 */
export function cniCacheUnder(dir: string, cache = CNI_CACHE): string[] {
  // A directory of its own, never the root or a relative path (a state file could say anything).
  if (!isAbsolute(dir) || resolve(dir) === '/') throw new Error(`not a sandbox directory: "${dir}"`);
  const prefix = `${resolve(dir)}/`;
  let names: string[];
  try {
    names = readdirSync(cache);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const f of names) {
    try {
      const entry = JSON.parse(readFileSync(join(cache, f), 'utf8')) as {
        result?: { interfaces?: { sandbox?: unknown }[] };
      };
      const inside = entry.result?.interfaces?.some(
        (i) => typeof i.sandbox === 'string' && isAbsolute(i.sandbox) && resolve(i.sandbox).startsWith(prefix),
      );
      if (inside) out.push(join(cache, f));
    } catch {
      /* not a cache entry, or gone meanwhile: not ours to judge */
    }
  }
  return out;
}
