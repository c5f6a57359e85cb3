// The overlay's desired kernel state, rendered from the network view alone (pure): the VXLAN
// device and its address, and per peer node a route, a permanent neighbour and an FDB entry
// (vxlan), or a route via the peer's node IP (host-gw).
import type { Node } from '../../controlplane/shared/kube/index.ts';
import { cidrContains, formatCidr, nthIp, parseCidr } from '../../controlplane/shared/cidr.ts';

export const VTEP_MAC_ANNOTATION = 'skiff.io/vtep-mac';
export const PUBLIC_IP_ANNOTATION = 'skiff.io/public-ip';
export const BACKEND_ANNOTATION = 'skiff.io/backend-type';
export const VXLAN_DEV = 'skiff.1';
export const VXLAN_VNI = 1;
export const VXLAN_PORT = 8472;
/** Routes the overlay owns carry this protocol number, so stale ones are found and nothing else is touched. */
export const ROUTE_PROTO = 77;
/** The service proxy's route for the service range (agent/proxy): its own number, so neither
 * subsystem takes the other's route for a stale one of its own; uninstall removes both. */
export const PROXY_ROUTE_PROTO = 78;

export type Backend = 'vxlan' | 'host-gw';

export interface Self {
  name: string;
  /** The node's own pod subnet (spec.podCIDR). */
  podCidr: string;
  nodeIp: string;
  /** The interface holding nodeIp, and its network (for host-gw's same-L2 check). */
  iface: string;
  ifaceCidr: string;
  mtu: number;
  vtepMac: string;
}

export interface VxlanLink {
  name: string;
  vni: number;
  port: number;
  local: string;
  dev: string;
  mtu: number;
  mac: string;
}
export interface RouteSpec {
  dst: string;
  via: string;
  dev: string;
  onlink: boolean;
}
export interface NeighSpec {
  dev: string;
  ip: string;
  mac: string;
}
export interface FdbSpec {
  dev: string;
  mac: string;
  dst: string;
}

export interface DesiredNet {
  /** The VXLAN device; null means there must be none (host-gw). */
  vxlan: VxlanLink | null;
  addresses: string[];
  routes: RouteSpec[];
  neighbours: NeighSpec[];
  fdb: FdbSpec[];
  /** Peers that cannot be reached with this backend, with the reason (logged, never guessed around). */
  errors: string[];
}

export interface Peer {
  name: string;
  podCidr: string;
  nodeIp: string;
  vtepMac?: string;
}

/** The peer's node IP: its own annotation, else its InternalIP. */
export function peerOf(n: Node): Peer | null {
  const podCidr = n.spec?.podCIDR;
  const ip =
    n.metadata.annotations?.[PUBLIC_IP_ANNOTATION] ??
    n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  if (!podCidr || !ip) return null;
  return { name: n.metadata.name!, podCidr, nodeIp: ip, vtepMac: n.metadata.annotations?.[VTEP_MAC_ANNOTATION] };
}

/** The network address of a subnet (`10.244.2.0/24` → `10.244.2.0`), the peer's VTEP address. */
const subnetBase = (cidr: string) => nthIp(parseCidr(cidr), 0);

export function renderOverlay(self: Self, backend: Backend, nodes: Iterable<Node>): DesiredNet {
  const out: DesiredNet = { vxlan: null, addresses: [], routes: [], neighbours: [], fdb: [], errors: [] };
  const peers = [...nodes]
    .filter((n) => n.metadata.name !== self.name)
    .map(peerOf)
    .filter((p): p is Peer => !!p)
    .sort((a, b) => a.name.localeCompare(b.name));
  if (backend === 'vxlan') {
    out.vxlan = {
      name: VXLAN_DEV,
      vni: VXLAN_VNI,
      port: VXLAN_PORT,
      local: self.nodeIp,
      dev: self.iface,
      mtu: self.mtu,
      mac: self.vtepMac,
    };
    out.addresses.push(`${subnetBase(self.podCidr)}/32`);
    for (const p of peers) {
      if (!p.vtepMac) {
        out.errors.push(`node ${p.name} has not published its VTEP MAC (${VTEP_MAC_ANNOTATION}) yet`);
        continue;
      }
      const vtep = subnetBase(p.podCidr);
      out.routes.push({ dst: normal(p.podCidr), via: vtep, dev: VXLAN_DEV, onlink: true });
      out.neighbours.push({ dev: VXLAN_DEV, ip: vtep, mac: p.vtepMac });
      out.fdb.push({ dev: VXLAN_DEV, mac: p.vtepMac, dst: p.nodeIp });
    }
  } else {
    const l2 = parseCidr(self.ifaceCidr);
    for (const p of peers) {
      if (!cidrContains(l2, p.nodeIp)) {
        out.errors.push(
          `host-gw: node ${p.name} (${p.nodeIp}) is not on this node's L2 network ${formatCidr(l2)} (${self.iface}); ` +
            'its pods are unreachable from here: use the vxlan backend',
        );
        continue;
      }
      out.routes.push({ dst: normal(p.podCidr), via: p.nodeIp, dev: self.iface, onlink: false });
    }
  }
  return out;
}

/** `10.244.2.7/24` → `10.244.2.0/24`, the form the kernel reports. */
function normal(cidr: string): string {
  return formatCidr(parseCidr(cidr));
}

/** A stable, locally administered MAC for the node's VTEP, so a recreated device keeps its address. */
export function vtepMacFor(nodeName: string, hash: (s: string) => Buffer): string {
  const b = hash(`skiff-vtep:${nodeName}`);
  b[0] = (b[0] & 0xfe) | 0x02;
  return [...b.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
}
