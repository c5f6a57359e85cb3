// Root-namespace primitives for sandboxes: network namespaces and the blackhole safety routes.
// Every route and namespace a sandbox makes is recorded by the caller, so `down` can remove
// exactly what was made, also after a crash.
import { execa } from 'execa';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withDirLock } from '../../controlplane/shared/dir-lock.ts';
import { procStat } from '../host/proc-stat.ts';
import { killPids, pidsInNetns } from './cleanup.ts';

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

// Adding and removing routes take one lock: a set that finds its range already routed (and so adds
// nothing) must not have the last other user remove it between that user's reading of the claims
// (written before any route is added, so a claim read under the lock is counted) and its `ip route
// del`. Ranges such as the service CIDR are shared by every sandbox.
const ROUTES_LOCK = '/run/skiff/blackholes.lock';
const underRoutesLock = <T>(fn: () => Promise<T>) => {
  mkdirSync('/run/skiff', { recursive: true });
  return withDirLock(ROUTES_LOCK, fn);
};

/**
 * Adds `ip route add blackhole R` for each range not already blackholed. Returns those it added.
 * The caller's state file or claim, naming the ranges, is written before.
 */
export function addBlackholes(ranges: string[]): Promise<string[]> {
  return underRoutesLock(() => addUnlocked(ranges));
}

async function addUnlocked(ranges: string[]): Promise<string[]> {
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

/**
 * A throwaway set's claim (tests, benchmarks): the ranges it guards, the namespaces it makes and
 * its process, written before anything is created. A set whose process was killed leaves it
 * behind; `skiff sandbox down --name ID` then removes what it names.
 */
export interface Reservation {
  ranges: string[];
  /** ID itself or ID-…: `down` refuses a claim naming anything else. */
  namespaces: string[];
  ownerPid: number;
  /** The owner's start time (clock ticks after boot), so a reused PID is not taken for it. */
  ownerStart?: number;
}

/** A claim as read back: whether its file listed namespaces at all (older claims did not). */
export interface FoundReservation extends Reservation {
  listsNamespaces: boolean;
}

/** A state file's name under STATE_ROOT (a sandbox's, a claim's) and each namespace a claim lists. */
export const STATE_NAME = /^[a-z0-9][-a-z0-9]{0,62}$/;

/** Whether the process runs: there, not a zombie, and (when known) started when it was recorded. */
export function processRuns(pid: number, start?: number): boolean {
  const st = procStat(pid);
  return st !== null && st.state !== 'Z' && (start === undefined || st.start === start);
}

/** Writes the claim of this process; refuses to replace any state file of the same name. */
export function writeReservation(id: string, ranges: string[], namespaces: string[]): void {
  mkdirSync(STATE_ROOT, { recursive: true });
  const r: Reservation = { ranges, namespaces, ownerPid: process.pid, ownerStart: procStat(process.pid)?.start };
  try {
    writeFileSync(join(STATE_ROOT, `${id}.json`), JSON.stringify(r), { flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    throw new Error(`"${id}" exists already (skiff sandbox list; skiff sandbox down --name ${id})`);
  }
}

/** The claim in a parsed state file; null when it is something else (a sandbox). */
export function asReservation(st: unknown): FoundReservation | null {
  const r = st as Partial<Reservation> & { nodes?: unknown };
  if (!r || typeof r !== 'object' || r.nodes !== undefined || typeof r.ownerPid !== 'number') return null;
  if (!Array.isArray(r.ranges) || !r.ranges.every((x) => typeof x === 'string')) return null;
  const listsNamespaces = Array.isArray(r.namespaces);
  // Elements are checked by `refusal` before any is used.
  const namespaces = listsNamespaces ? (r.namespaces as string[]) : [];
  const ownerStart = typeof r.ownerStart === 'number' ? r.ownerStart : undefined;
  return { ranges: r.ranges, namespaces, ownerPid: r.ownerPid, ownerStart, listsNamespaces };
}

/** Why `down` must not act on a claim, or null when it may. */
function refusal(id: string, r: FoundReservation): string | null {
  if (processRuns(r.ownerPid, r.ownerStart))
    return `"${id}" belongs to process ${r.ownerPid}, which is still running and removes it itself`;
  if (!r.listsNamespaces)
    return `"${id}" lists no namespaces (an older claim): remove them by hand, then ${STATE_ROOT}/${id}.json`;
  const foreign = r.namespaces.find(
    (n) => typeof n !== 'string' || !STATE_NAME.test(n) || (n !== id && !n.startsWith(`${id}-`)),
  );
  if (foreign !== undefined) return `"${id}" names a namespace that is not its own (${String(foreign)}): refused`;
  return null;
}

/**
 * Removes a dead set's leftovers: what still runs in its namespaces (its servers, VMs), the
 * namespaces, its routes (only those a sandbox added and no live claim lists), then the claim.
 */
export async function removeReservation(id: string, r: FoundReservation, log: (s: string) => void): Promise<void> {
  const why = refusal(id, r);
  if (why) throw new Error(why);
  for (const ns of r.namespaces) {
    await killPids(pidsInNetns(ns), 10_000);
    await delNetns(ns);
  }
  await removeBlackholes(r.ranges, id);
  rmSync(join(STATE_ROOT, `${id}.json`), { force: true });
  log(`"${id}" (left by process ${r.ownerPid}) removed: ${r.namespaces.length} namespace(s), its routes`);
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
      if (st.ownerPid && !processRuns(st.ownerPid, st.ownerStart)) continue;
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

/** Removes the ranges no other live sandbox or claim lists (state file `self` excluded). */
export function removeBlackholes(ranges: string[], self: string): Promise<void> {
  return underRoutesLock(() => removeUnlocked(ranges, self));
}

async function removeUnlocked(ranges: string[], self: string): Promise<void> {
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
