// `skiff agent --uninstall` and `skiff reset`: undo every change Skiff made to this host (or to
// the network namespace it runs in). Order matters: the Skiff processes stop first (so nothing
// recreates what is being removed), pods are torn down through CRI (so CNI DEL runs and shims
// exit), containerd is stopped by the PID in its pid file, then mounts, nft tables, links and
// files go. Every step tolerates what is already gone, so a second run is harmless.
import { execa } from 'execa';
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { killPids, pidsMentioning, removeAllPods, unmountUnder } from '../sandbox/cleanup.ts';
import { skiffLinks, skiffTables } from './leftovers.ts';
import { EGRESS_LISTING_FILE, INSTALL_FILES, INSTALL_RECORD, PID_FILE, SUBNET_FILE, UNITS, UNIT_DIR } from './paths.ts';
import { PROXY_ROUTE_PROTO, ROUTE_PROTO } from '../overlay/render.ts';

export interface UninstallOptions {
  /** Data dirs of the server, agent, `up` (each may hold a pid file and a containerd dir). */
  dataDirs: string[];
  /** Further files and dirs Skiff wrote (kubeconfig, image cache, local-path volumes). */
  extraPaths: string[];
  /** The agent's run dir: its subnet.env describes a network that is gone, data kept or not. */
  runDir: string;
  /** Keep the files under the data dirs (store, certificates, credentials, volumes). */
  keepData: boolean;
  log: (line: string) => void;
}

function pidFrom(file: string, mustMention: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return null;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(mustMention) ? pid : null;
  } catch {
    return null;
  }
}

async function stopUnits(log: (s: string) => void): Promise<void> {
  const present = UNITS.filter((u) => existsSync(join(UNIT_DIR, u)));
  if (!present.length) return;
  log(`stopping and disabling ${present.join(', ')}`);
  await execa('systemctl', ['disable', '--now', ...present], { reject: false });
  for (const u of present) rmSync(join(UNIT_DIR, u), { force: true });
  await execa('systemctl', ['daemon-reload'], { reject: false });
  // A distribution containerd the install step disabled comes back as it was.
  try {
    const rec = JSON.parse(readFileSync(INSTALL_RECORD, 'utf8')) as { reenable?: string[]; masked?: string[] };
    for (const u of rec.masked ?? []) await execa('systemctl', ['unmask', u], { reject: false });
    for (const u of rec.reenable ?? []) {
      log(`re-enabling ${u}`);
      await execa('systemctl', ['enable', u], { reject: false });
    }
  } catch {
    /* no record: nothing was disabled */
  }
  rmSync(INSTALL_RECORD, { force: true });
  for (const f of INSTALL_FILES) rmSync(f, { force: true });
}

/** Starts a stopped node containerd from its own config, only to tear its pods down through CRI. */
async function podsDown(dir: string, log: (s: string) => void): Promise<void> {
  const config = join(dir, 'config.toml');
  if (!existsSync(config)) return;
  const socket = join(dir, 'containerd.sock');
  let pid = pidFrom(join(dir, 'containerd.pid'), config);
  let started: ReturnType<typeof execa> | null = null;
  if (!pid) {
    started = execa('containerd', ['--config', config], {
      reject: false,
      stdin: 'ignore',
      stdout: 'ignore',
      stderr: 'ignore',
    });
    pid = started.pid ?? null;
  }
  const { CriClient } = await import('../cri/client.ts');
  const end = Date.now() + 30_000;
  for (let up = false; !up && Date.now() < end; ) {
    const c = new CriClient(socket);
    up = await c.version().then(
      () => true,
      () => false,
    );
    c.close();
    if (!up) await new Promise((r) => setTimeout(r, 100));
  }
  const n = await removeAllPods(socket);
  if (n) log(`removed ${n} pod sandbox(es) through CRI`);
  if (pid) {
    log(`stopping containerd (pid ${pid})`);
    await killPids([pid], 10_000);
  }
  await started;
  // Shims outlive containerd; the ones of this node name its socket.
  await killPids(pidsMentioning(socket));
}

async function nftCleanup(log: (s: string) => void): Promise<void> {
  const r = await execa('nft', ['-j', 'list', 'tables'], { reject: false });
  if (r.exitCode !== 0) return;
  for (const t of skiffTables(String(r.stdout))) {
    log(`deleting nft table ${t.family} ${t.name}`);
    await execa('nft', ['delete', 'table', t.family, t.name], { reject: false });
  }
}

/** Routes Skiff added on devices it did not make (the service range via the node interface). */
async function routeCleanup(log: (s: string) => void): Promise<void> {
  for (const proto of [ROUTE_PROTO, PROXY_ROUTE_PROTO]) {
    const r = await execa('ip', ['route', 'flush', 'table', 'all', 'proto', String(proto)], { reject: false });
    if (r.exitCode === 0) log(`removed routes of protocol ${proto}`);
  }
}

async function linkCleanup(log: (s: string) => void): Promise<void> {
  const r = await execa('ip', ['-j', '-d', 'link', 'show'], { reject: false });
  if (r.exitCode !== 0) return;
  // Routes, neighbour and FDB entries on these devices go with them.
  for (const name of skiffLinks(String(r.stdout))) {
    log(`deleting link ${name}`);
    await execa('ip', ['link', 'del', name], { reject: false });
  }
}

/** The node names the data dirs joined as (their credentials), whose pod cgroups are `/skiff-NAME`. */
function nodeNames(dirs: string[]): string[] {
  const names = new Set<string>();
  for (const d of dirs)
    try {
      names.add(JSON.parse(readFileSync(join(d, 'credentials.json'), 'utf8')).nodeName);
    } catch {
      /* not an agent's data dir */
    }
  return [...names].filter((n) => /^[a-z0-9.-]+$/.test(n));
}

function rmdirTree(p: string): void {
  for (const e of readdirSync(p, { withFileTypes: true })) if (e.isDirectory()) rmdirTree(join(p, e.name));
  rmdirSync(p);
}

/** The pods' cgroup parents (runc leaves the per-node and per-QoS levels behind), every hierarchy. */
function cgroupCleanup(nodes: string[], log: (s: string) => void): void {
  const roots = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' - '))
    .filter(([, fs]) => /^cgroup2? /.test(fs ?? ''))
    .map(([head]) => head.split(' ')[4]);
  for (const n of nodes)
    for (const r of roots) {
      const p = join(r, `skiff-${n}`);
      if (!existsSync(p)) continue;
      try {
        rmdirTree(p);
      } catch (e) {
        log(`cannot remove cgroup ${p}: ${(e as Error).message}`);
      }
    }
}

function removePath(p: string, log: (s: string) => void) {
  if (!existsSync(p)) return;
  log(`removing ${p}`);
  rmSync(p, { recursive: true, force: true });
  // An empty parent Skiff made (/etc/skiff, /var/lib/skiff) goes too.
  const parent = dirname(p);
  if (/\/skiff$/.test(parent) && existsSync(parent) && !readdirSync(parent).length) rmdirSync(parent);
}

export async function uninstall(o: UninstallOptions): Promise<void> {
  const log = o.log;
  await stopUnits(log);
  // Skiff processes started by hand (`skiff up`, `skiff agent`) record their PID in their data dir.
  const procs = o.dataDirs.map((d) => pidFrom(join(d, PID_FILE), 'skiff')).filter((p): p is number => p !== null);
  if (procs.length) {
    log(`stopping skiff (pid ${procs.join(', ')})`);
    await killPids(procs, 20_000);
  }
  for (const d of o.dataDirs) await podsDown(join(d, 'containerd'), log);
  for (const p of [...o.dataDirs, ...o.extraPaths]) await unmountUnder(p);
  cgroupCleanup(nodeNames(o.dataDirs), log);
  await nftCleanup(log);
  await linkCleanup(log);
  await routeCleanup(log);
  for (const d of o.dataDirs) rmSync(join(d, PID_FILE), { force: true });
  for (const f of [SUBNET_FILE, EGRESS_LISTING_FILE]) rmSync(join(o.runDir, f), { force: true });
  if (!o.keepData) for (const p of [...o.extraPaths, ...o.dataDirs]) removePath(p, log);
  log(o.keepData ? 'skiff is uninstalled; data kept' : 'skiff is uninstalled');
}
