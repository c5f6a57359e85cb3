// `skiff sandbox`: a multi-node Skiff cluster on one machine, made of network namespaces.
// An underlay namespace holds a bridge; each node namespace joins it through a veth and runs an
// agent (with its own containerd); the first node also runs the server, or, with --servers N > 1,
// N server hosts of their own each run an etcd member and a server (agents know all of them; see
// servers.ts). Blackhole routes for
// every range go into the root namespace before anything else, no namespace has a route out,
// and a state file records each thing as it is made, so `down` removes exactly that, also after
// a crash or a half-finished `up`.
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  addBlackholes,
  addNetns,
  asReservation,
  delNetns,
  processRuns,
  type Reservation,
  inNetns,
  removeBlackholes,
  removeReservation,
  STATE_NAME,
  run,
  STATE_ROOT,
} from './host.ts';
import {
  CNI_CACHE,
  cniCacheUnder,
  killPids,
  pidsMentioning,
  pidsOfContainersUnder,
  removeAllPods,
  unmountUnder,
} from './cleanup.ts';
import { startServers } from './servers.ts';
import type { List, Node } from '../../controlplane/shared/kube/index.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SKIFF = join(ROOT, 'bin/skiff');
export const SANDBOX_DATA = '/var/lib/skiff/sandbox';
export const DEFAULT_IMAGE_CACHE = '/var/lib/skiff/images';

export interface SandboxNode {
  name: string;
  ns: string;
  ip: string;
  podCidr: string;
}
export interface SandboxServer {
  name: string;
  ns: string;
  ip: string;
  url: string;
  role: string;
}
export interface SandboxState {
  name: string;
  index: number;
  ranges: string[];
  addedRoutes: string[];
  namespaces: string[];
  nodes: SandboxNode[];
  dir: string;
  pids: { role: string; pid: number }[];
  kubeconfig: string;
  /** The API server URL(s) the agents are given (comma-separated when there are several). */
  server?: string;
  /** Where each server runs, and the role its PID has in `pids`. */
  servers?: SandboxServer[];
  /** Where the agents build and find the built-in images (shared by all nodes). */
  imageCache?: string;
  /** Extra `skiff agent` flags every node's agent gets (also after a restart). */
  agentArgs?: string[];
  /** A host on the underlay with no Skiff on it: the client (or server) outside the cluster. */
  outside?: { ns: string; ip: string };
}

const stateFile = (name: string) => join(STATE_ROOT, `${name}.json`);

/** The state file's contents, or null when there is none or it cannot be read. */
function readState(name: string): unknown {
  try {
    return JSON.parse(readFileSync(stateFile(name), 'utf8'));
  } catch {
    return null;
  }
}

/** What `skiff sandbox list` shows of each state file: sandboxes, and sets killed tests left. */
export function listStates(): string[] {
  const out: string[] = [];
  for (const f of existsSync(STATE_ROOT) ? readdirSync(STATE_ROOT).sort() : []) {
    if (!f.endsWith('.json')) continue;
    const name = f.slice(0, -'.json'.length);
    const s = loadState(name);
    const r = s ? null : asReservation(readState(name));
    if (s) out.push(`${s.name}\t${s.nodes.length} node(s)\t${s.server ?? ''}`);
    else if (r && !processRuns(r.ownerPid, r.ownerStart))
      out.push(`${name}\tleft by process ${r.ownerPid}, which is gone\tskiff sandbox down --name ${name}`);
  }
  return out;
}

/** The claim a test or benchmark wrote under this name, if that is what the state file is. */
export function claimOf(name: string): Reservation | null {
  return loadState(name) ? null : asReservation(readState(name));
}

/** A sandbox's state; null when there is none (a test's range reservation is not a sandbox). */
export function loadState(name: string): SandboxState | null {
  const st = readState(name) as SandboxState | null;
  return st && typeof st === 'object' && Array.isArray(st.nodes) ? st : null;
}

export function save(s: SandboxState) {
  mkdirSync(STATE_ROOT, { recursive: true });
  writeFileSync(stateFile(s.name), JSON.stringify(s, null, 2));
}

function freeIndex(): number {
  const used = new Set<number>();
  if (existsSync(STATE_ROOT))
    for (const f of readdirSync(STATE_ROOT)) {
      try {
        const s = JSON.parse(readFileSync(join(STATE_ROOT, f), 'utf8'));
        if (typeof s.index === 'number') used.add(s.index);
      } catch {
        /* skip */
      }
    }
  for (let i = 0; i < 200; i++) if (!used.has(i)) return i;
  throw new Error('no free sandbox index');
}

/** A sandbox name: lowercase letters, digits and '-', at most 12 (namespace names are built from it). */
export const SANDBOX_NAME = /^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/;

export function nsName(sandbox: string, role: string): string {
  return `skiff-${sandbox}-${role}`.slice(0, 32);
}

export interface UpOptions {
  name: string;
  nodes: number;
  log?: (s: string) => void;
  readyTimeoutMs?: number /** Extra `skiff server` flags. */;
  serverArgs?: string[];
  /** The built-in image cache the agents share (default /var/lib/skiff/images). */
  imageCache?: string;
  /** Extra `skiff agent` flags, e.g. `--backend=host-gw`. */
  agentArgs?: string[];
  /** API servers (default 1, on the first node); more run on hosts of their own over a shared etcd. */
  servers?: number;
}

export async function sandboxUp(o: UpOptions): Promise<SandboxState> {
  const log = o.log ?? ((s: string) => console.log(s));
  if (!SANDBOX_NAME.test(o.name))
    throw new Error(`invalid sandbox name "${o.name}" (lowercase letters, digits and '-', at most 12)`);
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > 50) throw new Error('--nodes must be between 1 and 50');
  const serverCount = o.servers ?? 1;
  if (!Number.isInteger(serverCount) || serverCount < 1 || serverCount > 5)
    throw new Error('--servers must be between 1 and 5');
  if (readState(o.name) !== null)
    throw new Error(`sandbox "${o.name}" exists; run \`skiff sandbox down --name ${o.name}\` first`);
  const index = freeIndex();
  const underlay = `10.250.${index}.0/24`;
  const dir = join(SANDBOX_DATA, o.name);
  const s: SandboxState = {
    name: o.name,
    index,
    ranges: ['10.244.0.0/16', '10.96.0.0/12', underlay, `10.251.${index}.0/24`],
    addedRoutes: [],
    namespaces: [],
    nodes: [],
    dir,
    pids: [],
    kubeconfig: join(dir, 'admin.kubeconfig'),
    imageCache: o.imageCache,
    agentArgs: o.agentArgs ?? [],
  };
  save(s);
  try {
    // 1. The safety net, before anything else.
    s.addedRoutes = await addBlackholes(s.ranges);
    save(s);
    // 2. Underlay and nodes.
    const ul = nsName(o.name, 'ul');
    await addNetns(ul);
    s.namespaces.push(ul);
    save(s);
    await run('ip', ['-n', ul, 'link', 'add', 'br0', 'type', 'bridge']);
    await run('ip', ['-n', ul, 'link', 'set', 'br0', 'up']);
    for (let i = 1; i <= o.nodes; i++) {
      const node: SandboxNode = {
        name: `node${i}`,
        ns: nsName(o.name, `n${i}`),
        ip: `10.250.${index}.${10 + i}`,
        podCidr: `10.244.${i}.0/24`,
      };
      await addNetns(node.ns);
      s.namespaces.push(node.ns);
      s.nodes.push(node);
      save(s);
      // The veth is made inside the underlay and its node end moved into the node:
      // no link ever touches the root namespace.
      await run('ip', ['-n', ul, 'link', 'add', `v${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.ns]);
      await run('ip', ['-n', ul, 'link', 'set', `v${i}`, 'master', 'br0', 'up']);
      await run('ip', ['-n', node.ns, 'addr', 'add', `${node.ip}/24`, 'dev', 'eth0']);
      await run('ip', ['-n', node.ns, 'link', 'set', 'eth0', 'up']);
      const prov = await inNetns(node.ns, 'bash', [join(ROOT, 'vagrant/provision.sh'), 'node']);
      if (prov.exitCode !== 0) throw new Error(`provisioning ${node.name} failed: ${prov.stderr}`);
    }
    // The outside host: on the underlay like a node, but nothing of Skiff runs there.
    const out = { ns: nsName(o.name, 'out'), ip: `10.250.${index}.200` };
    await addNetns(out.ns);
    s.namespaces.push(out.ns);
    s.outside = out;
    save(s);
    await run('ip', ['-n', ul, 'link', 'add', 'vout', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', out.ns]);
    await run('ip', ['-n', ul, 'link', 'set', 'vout', 'master', 'br0', 'up']);
    await run('ip', ['-n', out.ns, 'addr', 'add', `${out.ip}/24`, 'dev', 'eth0']);
    await run('ip', ['-n', out.ns, 'link', 'set', 'eth0', 'up']);
    await run('ip', ['-n', out.ns, 'link', 'set', 'lo', 'up']);
    mkdirSync(dir, { recursive: true });
    // 3. The server on the first node (or the server hosts), then an agent on every node.
    const first = s.nodes[0];
    const token =
      serverCount > 1
        ? await startServers(s, serverCount, o.serverArgs ?? [], log)
        : await startOneServer(s, first, o.serverArgs ?? [], log);
    for (const n of s.nodes) spawnIn(s, `agent-${n.name}`, n.ns, agentArgs(s, n, token));
    await waitFor(
      async () => {
        const r = await inNetns(first.ns, 'kubectl', ['--kubeconfig', s.kubeconfig, 'get', 'nodes', '-o', 'json']);
        if (r.exitCode !== 0) return false;
        const items = (JSON.parse(String(r.stdout)) as List<Node>).items;
        return (
          items.length === o.nodes &&
          items.every((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
        );
      },
      o.readyTimeoutMs ?? 180_000,
      `${o.nodes} Ready nodes`,
    );
    log(`${o.nodes} node(s) Ready`);
    return s;
  } catch (e) {
    (e as Error).message +=
      `\n(state kept in ${stateFile(o.name)}; \`skiff sandbox down --name ${o.name}\` removes everything; ` +
      `logs in ${dir})`;
    throw e;
  }
}

/** The single server on the first node, as before HA; returns the join token. */
async function startOneServer(s: SandboxState, first: SandboxNode, extra: string[], log: (s: string) => void) {
  s.server = `https://${first.ip}:6443`;
  s.servers = [{ name: 'server', ns: first.ns, ip: first.ip, url: s.server, role: 'server' }];
  spawnIn(s, 'server', first.ns, [
    'server',
    '--data-dir',
    join(s.dir, 'server'),
    '--bind-address',
    first.ip,
    '--secure-port',
    '6443',
    '--write-kubeconfig',
    s.kubeconfig,
    '--lb-pool',
    s.ranges[3],
    '--local-path-root',
    join(s.dir, 'local-path'),
    ...extra,
  ]);
  const tokenFile = join(s.dir, 'server', 'token');
  await waitFor(
    async () =>
      existsSync(tokenFile) &&
      (await inNetns(first.ns, 'kubectl', ['--kubeconfig', s.kubeconfig, 'get', '--raw', '/readyz'])).exitCode === 0,
    60_000,
    'the server',
  );
  log(`server up at ${s.server}`);
  return readFileSync(tokenFile, 'utf8').trim();
}

export function spawnIn(s: SandboxState, role: string, ns: string, args: string[], cmd = SKIFF) {
  // The log file itself is the child's stdout/stderr: a pipe would die with `sandbox up`, and
  // the next line the daemon wrote would kill it with SIGPIPE.
  const fd = openSync(join(s.dir, `${role}.log`), 'a');
  const p = spawn('nsenter', [`--net=/run/netns/${ns}`, cmd, ...args], { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  p.unref();
  s.pids.push({ role, pid: p.pid! });
  save(s);
  return p;
}

function agentArgs(s: SandboxState, n: SandboxNode, token: string): string[] {
  return [
    'agent',
    '--server',
    s.server!,
    '--token',
    token,
    '--node-name',
    n.name,
    '--node-ip',
    n.ip,
    '--data-dir',
    join(s.dir, n.name),
    '--pod-cidr',
    n.podCidr,
    '--image-cache',
    s.imageCache ?? DEFAULT_IMAGE_CACHE,
    '--run-dir',
    join(s.dir, n.name, 'run'),
    ...(s.agentArgs ?? []),
  ];
}

/** Kills a node's agent (SIGKILL by default, by PID) and starts a new one, as after a crash. */
export async function restartAgent(name: string, node: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<number> {
  killAgent(name, node, signal);
  await new Promise((r) => setTimeout(r, 300));
  return startAgent(name, node);
}

/** Kills a node's agent (by PID) and leaves it dead. */
export function killAgent(name: string, node: string, signal: NodeJS.Signals = 'SIGKILL'): void {
  const s = loadState(name);
  if (!s) throw new Error(`no sandbox named "${name}"`);
  const role = `agent-${sandboxNode(s, node).name}`;
  for (const p of s.pids.filter((x) => x.role === role)) {
    try {
      process.kill(p.pid, signal);
    } catch {
      /* gone */
    }
  }
  s.pids = s.pids.filter((x) => x.role !== role);
  save(s);
}

/** Starts a node's agent (after killAgent). */
export function startAgent(name: string, node: string): number {
  const s = loadState(name);
  if (!s) throw new Error(`no sandbox named "${name}"`);
  const n = sandboxNode(s, node);
  const token = readFileSync(join(s.dir, 'server', 'token'), 'utf8').trim();
  return spawnIn(s, `agent-${n.name}`, n.ns, agentArgs(s, n, token)).pid!;
}

export async function waitFor(cond: () => Promise<boolean>, ms: number, what: string) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${ms / 1000}s waiting for ${what}`);
}

/** Processes whose command line names `dir` or a path under it (not `dir` as a prefix of another name). */
function pidsNaming(dir: string): number[] {
  return [...new Set([...pidsMentioning(`${dir}/`), ...pidsMentioning(`${dir}\0`)])];
}

export async function sandboxDown(name: string, log: (s: string) => void = (s) => console.log(s)): Promise<void> {
  // A name is a file name under STATE_ROOT: nothing that leads out of it.
  if (!STATE_NAME.test(name)) throw new Error(`invalid sandbox name "${name}"`);
  const s = loadState(name);
  if (!s) {
    // What a killed test or benchmark left: its namespaces and routes, no cluster.
    const r = asReservation(readState(name));
    if (r) return removeReservation(name, r, log);
    throw new Error(`no sandbox named "${name}"`);
  }
  // Everything under its directory is removed, and the CNI cache entries naming it: only its own.
  if (s.dir !== join(SANDBOX_DATA, name))
    throw new Error(`sandbox "${name}": its state file names the directory "${s.dir}", not its own: refused`);
  // Agents first (a running kubelet would start again the pods removed next), killed outright:
  // an agent told to stop stops its containerd too, and the pods are removed next through it
  // (their shims outlive containerd; CNI DEL falls back to the standalone plugin with no agent).
  // Then containerd and the server.
  await killPids(
    s.pids.filter((p) => p.role.startsWith('agent')).map((p) => p.pid),
    3000,
    'SIGKILL',
  );
  await Promise.all(
    s.nodes.map(async (n) => {
      const sock = join(s.dir, n.name, 'containerd', 'containerd.sock');
      if (!existsSync(sock)) return;
      const removed = await removeAllPods(sock);
      if (removed) log(`${n.name}: removed ${removed} pod sandbox(es)`);
    }),
  );
  const ctrd: number[] = [];
  for (const n of s.nodes) {
    const f = join(s.dir, n.name, 'containerd', 'containerd.pid');
    if (existsSync(f)) ctrd.push(Number(readFileSync(f, 'utf8')));
  }
  await killPids(ctrd.filter((p) => pidsNaming(s.dir).includes(p)));
  await killPids(s.pids.filter((p) => p.role.startsWith('server')).map((p) => p.pid));
  await killPids(s.pids.filter((p) => p.role.startsWith('etcd')).map((p) => p.pid));
  // Anything else still running from this sandbox's directory (shims), by PID.
  await killPids(pidsNaming(s.dir));
  // Container processes whose shim went first (reparented, rooted in a snapshot under s.dir).
  await killPids(pidsOfContainersUnder(s.dir));
  await unmountUnder(s.dir);
  for (const ns of [...s.namespaces].reverse()) await delNetns(ns);
  // containerd caches each pod's CNI result in the host's one directory, and not every teardown
  // reaches its removal: the entries naming this sandbox's namespaces go with it.
  const cached = cniCacheUnder(s.dir);
  for (const f of cached) rmSync(f, { force: true });
  if (cached.length) log(`removed ${cached.length} CNI cache entr${cached.length === 1 ? 'y' : 'ies'} (${CNI_CACHE})`);
  rmSync(s.dir, { recursive: true, force: true });
  rmSync(stateFile(name), { force: true });
  try {
    await removeBlackholes(s.ranges, name);
  } catch (e) {
    // The state file is gone (so no other set keeps a shared range for it): say what is left.
    throw new Error(
      `sandbox "${name}" removed, but not its blackhole routes (${(e as Error).message}); ` +
        `those no other sandbox lists: ip route del blackhole RANGE, for ${s.ranges.join(', ')}`,
    );
  }
  log(`sandbox "${name}" removed`);
}

/** The namespace `sandbox exec` runs in: a node's, or the outside host's. */
export function execNamespace(s: SandboxState, target: string): string {
  if (target === 'outside') {
    if (!s.outside) throw new Error(`sandbox "${s.name}" has no outside host (made before it existed)`);
    return s.outside.ns;
  }
  const server = s.servers?.find((x) => x.name === target && !s.nodes.some((n) => n.ns === x.ns));
  return server ? server.ns : sandboxNode(s, target).ns;
}

export function sandboxNode(s: SandboxState, node: string): SandboxNode {
  const n = s.nodes.find((x) => x.name === node || x.ns === node);
  if (!n)
    throw new Error(`sandbox "${s.name}" has no node "${node}" (nodes: ${s.nodes.map((x) => x.name).join(', ')})`);
  return n;
}
