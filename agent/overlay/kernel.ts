// The overlay's thin kernel layer: reads what is there with `ip -j` (one batch) and `bridge -j`,
// and applies a plan with one `ip -batch` and one `bridge -batch`.
import { exec, type FdbEntry, type IpNeigh, type IpRoute, type Link } from '../../cni/netlink.ts';
import { BatchSession } from './batch-session.ts';
import type { ActualNet, Plan } from './diff.ts';
import { ROUTE_PROTO, VXLAN_DEV } from './render.ts';

/** Runs commands inside a namespace when given (tests), else in the agent's own. */
export type Wrap = string[];

async function run(wrap: Wrap, cmd: string, args: string[], input?: string) {
  const argv = [...wrap, cmd, ...args];
  return exec(argv[0], argv.slice(1), input);
}

export async function readOverlay(wrap: Wrap = [], dev = VXLAN_DEV): Promise<ActualNet> {
  // Both reads at once: the FDB one fails harmlessly when the device does not exist.
  const [r, fdb] = await Promise.all([
    run(
      wrap,
      'ip',
      ['-j', '-d', '-batch', '-'],
      ['link show', 'addr show', `route show table main proto ${ROUTE_PROTO}`, 'neigh show nud permanent'].join('\n') +
        '\n',
    ),
    run(wrap, 'bridge', ['-j', 'fdb', 'show', 'dev', dev]),
  ]);
  if (r.code !== 0) throw new Error(`ip -j -batch: ${r.stderr.trim()}`);
  // One JSON array per batch line, in the order asked.
  const [links, addrs, routes, neighs] = r.stdout
    .split('\n')
    .filter((l) => l.trim().startsWith('['))
    .map((l) => JSON.parse(l)) as [Link[]?, Link[]?, IpRoute[]?, IpNeigh[]?];
  const l = (links ?? []).find((x) => x.ifname === dev);
  const out: ActualNet = { vxlan: null, addresses: [], routes: [], neighbours: [], fdb: [] };
  if (l) {
    const d = l.linkinfo?.info_data ?? {};
    out.vxlan = {
      name: dev,
      kind: l.linkinfo?.info_kind === 'vxlan' ? 'vxlan' : '',
      vni: Number(d.id),
      port: Number(d.port),
      local: String(d.local ?? ''),
      dev: String(d.link ?? ''),
      learning: !!d.learning,
      mtu: Number(l.mtu),
      mac: String(l.address),
      up: (l.flags ?? []).includes('UP'),
    };
    const a = (addrs ?? []).find((x) => x.ifname === dev);
    out.addresses = (a?.addr_info ?? []).filter((x) => x.family === 'inet').map((x) => `${x.local}/${x.prefixlen}`);
    if (fdb.code !== 0) throw new Error(`bridge -j fdb show: ${fdb.stderr.trim()}`);
    out.fdb = (JSON.parse(fdb.stdout || '[]') as FdbEntry[])
      .filter((x) => x.dst && x.mac !== '00:00:00:00:00:00')
      .map((x) => ({ dev, mac: String(x.mac), dst: String(x.dst) }));
  }
  out.routes = (routes ?? []).flatMap((x) =>
    x.gateway && x.dev
      ? [
          {
            dst: x.dst.includes('/') ? x.dst : `${x.dst}/32`,
            via: x.gateway,
            dev: x.dev,
            onlink: (x.flags ?? []).includes('onlink'),
          },
        ]
      : [],
  );
  out.neighbours = (neighs ?? [])
    .filter((x) => x.dev === dev && x.lladdr)
    .map((x) => ({ dev, ip: String(x.dst), mac: String(x.lladdr) }));
  return out;
}

/** The overlay's two long-lived batch processes (see batch-session.ts). */
export interface Sessions {
  ip: BatchSession;
  bridge: BatchSession;
}

export function openSessions(wrap: Wrap = []): Sessions {
  return {
    ip: new BatchSession([...wrap, 'ip', '-force', '-j', '-batch', '-'], 'link show dev lo'),
    bridge: new BatchSession([...wrap, 'bridge', '-force', '-j', '-batch', '-'], 'fdb show dev lo'),
  };
}

/**
 * Applies a plan; `-force` goes on past a failing line, whose error is returned for the log.
 * Through the sessions when given (the agent), else with one process per batch.
 */
export async function applyPlan(plan: Plan, wrap: Wrap = [], sessions?: Sessions): Promise<string[]> {
  const batch = async (cmd: 'ip' | 'bridge', lines: string[]) => {
    if (!lines.length) return '';
    if (sessions) {
      const err = await sessions[cmd].run(lines);
      return err ? `${cmd} -batch: ${err}` : '';
    }
    const r = await run(wrap, cmd, ['-force', '-batch', '-'], lines.join('\n') + '\n');
    return r.code === 0 ? '' : `${cmd} -batch: ${r.stderr.trim()}`;
  };
  // FDB entries need the device: after the ip batch when it (re)makes it, else both at once.
  const makesLink = plan.ip.some((l) => l.startsWith('link add') || l.startsWith('link del'));
  if (makesLink && sessions) {
    // iproute2 caches device names by index: a session started before the device was made anew
    // would name the old one ("unknown ifindex"). Rare (start, backend switch): new processes.
    sessions.ip.close();
    sessions.bridge.close();
    sessions = undefined;
  }
  const errors = makesLink
    ? [await batch('ip', plan.ip), await batch('bridge', plan.bridge)]
    : await Promise.all([batch('ip', plan.ip), batch('bridge', plan.bridge)]);
  return errors.filter(Boolean);
}

/** The interface holding an address, its network and MTU. */
export interface Underlay {
  iface: string;
  ip: string;
  cidr: string;
  mtu: number;
}

/**
 * Finds the node's underlay interface: the one holding --node-ip, or --iface's first IPv4
 * address. Neither given: the interface of the default route, else the only one with an IPv4
 * address; anything ambiguous is an error naming the flags, never a guess.
 */
export async function findUnderlay(o: { nodeIp?: string; iface?: string }, wrap: Wrap = []): Promise<Underlay> {
  const r = await run(wrap, 'ip', ['-j', '-batch', '-'], 'addr show\nroute show default\n');
  if (r.code !== 0) throw new Error(`ip -j addr: ${r.stderr.trim()}`);
  const [addrs, defaults] = r.stdout
    .split('\n')
    .filter((l) => l.trim().startsWith('['))
    .map((l) => JSON.parse(l)) as [Link[]?, IpRoute[]?];
  const cands: Underlay[] = [];
  for (const l of addrs ?? [])
    for (const a of l.addr_info ?? [])
      if (a.family === 'inet' && l.ifname !== 'lo' && l.ifname !== VXLAN_DEV && a.scope === 'global')
        cands.push({ iface: l.ifname, ip: a.local, cidr: `${a.local}/${a.prefixlen}`, mtu: Number(l.mtu) });
  const names = () => cands.map((c) => `${c.iface} ${c.ip}`).join(', ') || 'none';
  if (o.nodeIp) {
    const c = cands.find((x) => x.ip === o.nodeIp);
    if (!c) throw new Error(`--node-ip ${o.nodeIp} is not an address of this node (addresses: ${names()})`);
    if (o.iface && c.iface !== o.iface)
      throw new Error(`--node-ip ${o.nodeIp} is on ${c.iface}, not --iface ${o.iface}`);
    return c;
  }
  if (o.iface) {
    const c = cands.find((x) => x.iface === o.iface);
    if (!c) throw new Error(`--iface ${o.iface} has no IPv4 address (addresses: ${names()})`);
    return c;
  }
  const viaDefault = (defaults ?? [])[0]?.dev;
  const c = viaDefault ? cands.find((x) => x.iface === viaDefault) : cands.length === 1 ? cands[0] : undefined;
  if (!c)
    throw new Error(
      `cannot tell which interface carries the overlay (addresses: ${names()}): give --node-ip or --iface`,
    );
  return c;
}
