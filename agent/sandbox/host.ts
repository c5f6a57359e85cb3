// Root-namespace primitives for sandboxes: network namespaces and the blackhole safety routes.
// Every route and namespace a sandbox makes is recorded by the caller, so `down` can remove
// exactly what was made, also after a crash.
import { execa } from 'execa';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const STATE_ROOT = '/run/skiff/sandbox';

async function run(cmd: string, args: string[]): Promise<string> {
  const r = await execa(cmd, args, { reject: false });
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${String(r.stderr).trim()}`);
  return String(r.stdout);
}

export async function blackholes(): Promise<string[]> {
  const out = await run('ip', ['-4', 'route', 'show', 'type', 'blackhole']);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[1])
    .filter(Boolean);
}

/** Adds `ip route add blackhole R` for each range not already blackholed. Returns those it added. */
export async function addBlackholes(ranges: string[]): Promise<string[]> {
  const have = new Set(await blackholes());
  const added: string[] = [];
  for (const r of ranges) {
    if (have.has(r)) continue;
    const res = await execa('ip', ['route', 'add', 'blackhole', r], { reject: false });
    // Another sandbox may add the same range at the same moment: then it is in place, and theirs.
    if (res.exitCode !== 0 && !/File exists/.test(String(res.stderr)))
      throw new Error(`ip route add blackhole ${r}: ${String(res.stderr).trim()}`);
    if (res.exitCode === 0) {
      added.push(r);
      mark(r, true);
    }
  }
  return added;
}

/** Ranges other live sandboxes (state files other than `self`) still need. */
function rangesInUse(self: string): Set<string> {
  const used = new Set<string>();
  if (!existsSync(STATE_ROOT)) return used;
  for (const f of readdirSync(STATE_ROOT)) {
    if (!f.endsWith('.json') || f === `${self}.json`) continue;
    try {
      const st = JSON.parse(readFileSync(join(STATE_ROOT, f), 'utf8'));
      // A throwaway set (tests, benchmarks) records its process; once that is gone, so is its claim.
      if (st.ownerPid && !pidAlive(st.ownerPid)) continue;
      for (const r of st.ranges ?? []) used.add(r);
    } catch {
      /* unreadable: ignore */
    }
  }
  return used;
}

// Routes a sandbox added are marked, so the last sandbox using a range removes it even when
// another sandbox added it, and a blackhole that was there before any sandbox stays.
const MARKS = '/run/skiff/blackholes';
function mark(range: string, on: boolean) {
  const f = join(MARKS, range.replace('/', '_'));
  if (on) {
    mkdirSync(MARKS, { recursive: true });
    writeFileSync(f, '');
  } else rmSync(f, { force: true });
}
const marked = (range: string) => existsSync(join(MARKS, range.replace('/', '_')));

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function removeBlackholes(ranges: string[], self: string): Promise<void> {
  const keep = rangesInUse(self);
  const have = new Set(await blackholes());
  for (const r of ranges) {
    if (keep.has(r) || !marked(r)) continue;
    if (have.has(r)) await run('ip', ['route', 'del', 'blackhole', r]);
    mark(r, false);
  }
}

export async function netnsList(): Promise<string[]> {
  const out = await run('ip', ['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.split(/\s+/)[0])
    .filter(Boolean);
}

export async function addNetns(name: string): Promise<void> {
  await run('ip', ['netns', 'add', name]);
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
}

export async function delNetns(name: string): Promise<void> {
  if ((await netnsList()).includes(name)) await run('ip', ['netns', 'del', name]);
}

/** Runs a command inside a namespace with nsenter (keeps the cgroup mounts, unlike ip netns exec). */
export function inNetns(ns: string, cmd: string, args: string[]) {
  return execa('nsenter', [`--net=/run/netns/${ns}`, cmd, ...args], { reject: false });
}

export { run };
