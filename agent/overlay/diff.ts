// The difference between the overlay's desired and actual kernel state, as the lines of one
// `ip -batch` and one `bridge -batch` (FDB entries are not in `ip`). Pure: nothing that already
// matches is touched, so an agent restart adopts what is there.
import {
  type DesiredNet,
  type FdbSpec,
  type NeighSpec,
  ROUTE_PROTO,
  type RouteSpec,
  type VxlanLink,
} from './render.ts';

export interface ActualNet {
  /** The device named like the VXLAN device, whatever it is (kind '' when it is not VXLAN). */
  vxlan: (VxlanLink & { up: boolean; kind: string; learning: boolean }) | null;
  addresses: string[];
  /** Only routes carrying the overlay's protocol number. */
  routes: RouteSpec[];
  neighbours: NeighSpec[];
  fdb: FdbSpec[];
}

export interface Plan {
  ip: string[];
  bridge: string[];
}

export const routeLine = (r: RouteSpec) =>
  `${r.dst} via ${r.via} dev ${r.dev}${r.onlink ? ' onlink' : ''} proto ${ROUTE_PROTO}`;
const sameRoute = (a: RouteSpec, b: RouteSpec) =>
  a.via === b.via && a.dev === b.dev && a.onlink === b.onlink && a.dst === b.dst;

export function diffOverlay(want: DesiredNet, have: ActualNet): Plan {
  const ip: string[] = [],
    bridge: string[] = [];
  const link = want.vxlan,
    cur = have.vxlan;
  // Entries on a device that is (re)created or removed go with it.
  let fresh = false;
  if (cur && (!link || cur.kind !== 'vxlan' || !sameIdentity(link, cur))) {
    ip.push(`link del ${cur.name}`);
    fresh = true;
  }
  if (link && (!cur || fresh)) {
    ip.push(
      `link add ${link.name} address ${link.mac} mtu ${link.mtu} type vxlan id ${link.vni} local ${link.local} ` +
        `dev ${link.dev} dstport ${link.port} nolearning`,
    );
    ip.push(`link set ${link.name} up`);
  } else if (link && cur) {
    if (cur.mac !== link.mac) ip.push(`link set ${link.name} address ${link.mac}`);
    if (cur.mtu !== link.mtu) ip.push(`link set ${link.name} mtu ${link.mtu}`);
    if (!cur.up) ip.push(`link set ${link.name} up`);
  }
  const on = (dev: string) => !(fresh && cur && dev === cur.name);
  const haveAddrs = fresh ? [] : have.addresses;
  if (link) {
    for (const a of want.addresses) if (!haveAddrs.includes(a)) ip.push(`addr add ${a} dev ${link.name}`);
    for (const a of haveAddrs) if (!want.addresses.includes(a)) ip.push(`addr del ${a} dev ${link.name}`);
  }
  const haveRoutes = have.routes.filter((r) => on(r.dev));
  for (const r of haveRoutes) if (!want.routes.some((w) => w.dst === r.dst)) ip.push(`route del ${routeLine(r)}`);
  for (const r of want.routes) {
    const h = haveRoutes.find((x) => x.dst === r.dst);
    if (!h || !sameRoute(h, r)) ip.push(`route replace ${routeLine(r)}`);
  }
  const haveNeigh = have.neighbours.filter((n) => on(n.dev) && link);
  for (const n of haveNeigh)
    if (!want.neighbours.some((w) => w.ip === n.ip && w.dev === n.dev)) ip.push(`neigh del ${n.ip} dev ${n.dev}`);
  for (const n of want.neighbours) {
    const h = haveNeigh.find((x) => x.ip === n.ip && x.dev === n.dev);
    if (!h || h.mac !== n.mac) ip.push(`neigh replace ${n.ip} lladdr ${n.mac} dev ${n.dev} nud permanent`);
  }
  const haveFdb = have.fdb.filter((f) => on(f.dev) && link);
  for (const f of haveFdb)
    if (!want.fdb.some((w) => w.mac === f.mac && w.dst === f.dst && w.dev === f.dev))
      bridge.push(`fdb del ${f.mac} dev ${f.dev} dst ${f.dst} self`);
  for (const f of want.fdb)
    if (!haveFdb.some((h) => h.mac === f.mac && h.dst === f.dst && h.dev === f.dev))
      bridge.push(`fdb append ${f.mac} dev ${f.dev} dst ${f.dst} self permanent`);
  return { ip, bridge };
}

/**
 * The kernel state a fully applied plan leaves: the desired state in the shape the reader gives.
 * Node changes are diffed against it instead of a fresh read (two process spawns of latency);
 * the kernel itself is read at start, every resync and after any failure.
 */
export function assumeApplied(want: DesiredNet): ActualNet {
  return {
    vxlan: want.vxlan ? { ...want.vxlan, up: true, kind: 'vxlan', learning: false } : null,
    addresses: want.vxlan ? [...want.addresses] : [],
    routes: want.routes.map((r) => ({ ...r })),
    neighbours: want.neighbours.map((n) => ({ ...n })),
    fdb: want.vxlan ? want.fdb.map((f) => ({ ...f })) : [],
  };
}

/** What cannot change on a live VXLAN device: a difference means delete and recreate. */
function sameIdentity(want: VxlanLink, cur: VxlanLink & { learning: boolean }): boolean {
  return (
    want.vni === cur.vni && want.port === cur.port && want.local === cur.local && want.dev === cur.dev && !cur.learning
  );
}
