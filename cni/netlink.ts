// The kernel side, through iproute2 (`ip`, `bridge`). Under nsenter, sysfs shows another
// namespace's devices, so everything goes through netlink via these commands.
import { execFile } from 'node:child_process';
import { CniError, CODES } from './errors.ts';

// node:child_process rather than execa: the plugin starts for every pod, and execa's import
// alone costs more than the plugin's own work.
/** Runs a command (with `input` on its stdin); never rejects: the exit code says. */
export function exec(
  cmd: string,
  args: string[],
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

async function ip(args: string[], netns?: string): Promise<string> {
  const argv = netns ? ['nsenter', `--net=${netns}`, 'ip', ...args] : ['ip', ...args];
  const r = await exec(argv[0], argv.slice(1));
  if (r.code !== 0) throw Object.assign(new Error(`${argv.join(' ')}: ${r.stderr.trim()}`), { stderr: r.stderr });
  return r.stdout;
}

/**
 * Several `ip` commands in one process (`ip -j -batch -`): each spawn costs milliseconds. Show
 * commands among them print one JSON array per line; the links they name are returned.
 */
async function ipBatch(lines: string[], netns?: string): Promise<Link[]> {
  const argv = netns ? ['nsenter', `--net=${netns}`, 'ip', '-j', '-batch', '-'] : ['ip', '-j', '-batch', '-'];
  const r = await exec(argv[0], argv.slice(1), lines.join('\n') + '\n');
  if (r.code !== 0)
    throw Object.assign(new Error(`ip -batch (${lines.join('; ')}): ${r.stderr.trim()}`), { stderr: r.stderr });
  return r.stdout
    .split('\n')
    .filter((l) => l.trim().startsWith('['))
    .flatMap((l) => JSON.parse(l) as Link[]);
}

const exists = (e: unknown) => /File exists|already assigned/.test(String((e as { stderr?: string }).stderr ?? ''));

/** A link as `ip -j [-d] addr|link show` prints it (the fields Skiff reads). */
export interface Link {
  ifname: string;
  address: string;
  mtu: number;
  operstate: string;
  flags?: string[];
  addr_info?: { local: string; prefixlen: number; family: string; scope?: string }[];
  /** With -d: the link type and its type-specific data (for vxlan: id, port, local, link, learning). */
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
}

/** A route as `ip -j route show` prints it. */
export interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  flags?: string[];
}

/** A neighbour entry as `ip -j neigh show` prints it. */
export interface IpNeigh {
  dst: string;
  dev?: string;
  lladdr?: string;
  state?: string[];
}

/** A forwarding entry as `bridge -j fdb show` prints it. */
export interface FdbEntry {
  mac: string;
  dst?: string;
  ifname?: string;
  flags?: string[];
}

export async function linkShow(name: string, netns?: string): Promise<Link | null> {
  try {
    const out = JSON.parse(await ip(['-j', 'addr', 'show', 'dev', name], netns)) as Link[];
    return out[0] ?? null;
  } catch (e) {
    if (/does not exist|Cannot find device/.test(String((e as Error).message))) return null;
    throw e;
  }
}

/** The IPv4 routes of the main table inside a namespace (for CHECK). */
export async function routesIn(netns: string): Promise<IpRoute[]> {
  return JSON.parse(await ip(['-j', '-4', 'route', 'show', 'table', 'main'], netns));
}

// Bridges this process has already seen up with their address: a pod's ADD then skips the look.
const readyBridges = new Map<string, Link>();

/** The bridge with the gateway address, up; tolerant of a concurrent creator. */
export async function ensureBridge(name: string, gatewayCidr: string, mtu: number): Promise<Link> {
  const key = `${name}/${gatewayCidr}/${mtu}`;
  const known = readyBridges.get(key);
  if (known) return known;
  let br = await linkShow(name);
  if (!br) {
    try {
      await ip(['link', 'add', name, 'mtu', String(mtu), 'type', 'bridge']);
    } catch (e) {
      if (!exists(e)) throw e;
    }
    br = await linkShow(name);
  }
  if (!br) throw new CniError(CODES.ioFailure, `bridge ${name} could not be created`);
  if (!(br.addr_info ?? []).some((a) => `${a.local}/${a.prefixlen}` === gatewayCidr)) {
    try {
      await ip(['addr', 'add', gatewayCidr, 'dev', name]);
    } catch (e) {
      if (!exists(e)) throw e;
    }
  }
  if (br.mtu !== mtu || br.operstate === 'DOWN' || !(br as { flags?: string[] }).flags?.includes('UP')) {
    await ip(['link', 'set', name, 'mtu', String(mtu), 'up']);
    br = (await linkShow(name))!;
  }
  readyBridges.set(key, br);
  return br;
}

/** Forgets what ensureBridge remembered (the bridge went away under us). */
export function forgetBridges() {
  readyBridges.clear();
}

/** A veth pair: `podIf` inside the pod's namespace, `hostIf` on the bridge with hairpin mode. */
export async function addVeth(
  netns: string,
  podIf: string,
  hostIf: string,
  bridge: string,
  mtu: number,
  hairpin: boolean,
): Promise<{ host: Link }> {
  const lines = [
    `link add ${hostIf} mtu ${mtu} type veth peer name ${podIf} mtu ${mtu} netns ${netns}`,
    `link set ${hostIf} master ${bridge} up`,
    ...(hairpin ? [`link set dev ${hostIf} type bridge_slave hairpin on`] : []),
    `addr show dev ${hostIf}`,
  ];
  let links: Link[];
  try {
    links = await ipBatch(lines);
  } catch (e) {
    // A leftover host end (a repeated ADD): remove it, and the stale pod end with it, then retry.
    if (!exists(e)) throw e;
    await deleteLink(hostIf);
    await deleteLink(podIf, netns);
    links = await ipBatch(lines);
  }
  return { host: links[links.length - 1] };
}

export async function configurePod(netns: string, podIf: string, cidr: string, gateway: string): Promise<Link> {
  const links = await ipBatch(
    [
      `addr replace ${cidr} dev ${podIf}`,
      `link set ${podIf} up`,
      `route replace default via ${gateway} dev ${podIf}`,
      `addr show dev ${podIf}`,
    ],
    netns,
  );
  return links[links.length - 1];
}

export async function deleteLink(name: string, netns?: string): Promise<void> {
  try {
    await ip(['link', 'del', name], netns);
  } catch (e) {
    if (
      !/does not exist|Cannot find device|No such file|Invalid argument|cannot open/i.test(String((e as Error).message))
    )
      throw e;
  }
}

export async function loopbackUp(netns: string): Promise<void> {
  await ip(['link', 'set', 'lo', 'up'], netns);
}

export async function loopbackDown(netns: string): Promise<void> {
  try {
    await ip(['link', 'set', 'lo', 'down'], netns);
  } catch {
    /* namespace gone: nothing to do */
  }
}
