// The overlay's desired kernel state, rendered from the network view alone (pure): the VXLAN
// device and its address, and per peer node a route, a permanent neighbour and an FDB entry
// (vxlan), or a route via the peer's node IP (host-gw).
import type { Node } from '../../controlplane/shared/kube/index.ts';
import { cidrContains, cidrsOverlap, formatCidr, ipToInt, nthIp, parseCidr } from '../../controlplane/shared/cidr.ts';
import { isMacAddress } from '../../controlplane/shared/net-values.ts';

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
  /** The cluster's pod network: every peer's subnet must lie inside it. */
  clusterCidr: string;
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
  /** The peers whose facts passed the checks (the egress table's node set), whatever the backend. */
  peers: Peer[];
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

/** Why `podCidr` cannot be a node's subnet in the cluster network, or null. */
export function subnetProblem(podCidr: string, clusterCidr: string): string | null {
  let sub: ReturnType<typeof parseCidr>;
  try {
    sub = parseCidr(podCidr);
  } catch {
    return `invalid podCIDR ${JSON.stringify(podCidr)}`;
  }
  const net = parseCidr(clusterCidr);
  if (sub.bits < net.bits || !cidrContains(net, nthIp(sub, 0)))
    return `podCIDR ${podCidr} is outside the cluster network ${clusterCidr}`;
  return null;
}

/**
 * Why a peer's facts cannot be programmed, or null. They come from the peer's own Node object,
 * which that node's credential may write, and end up in `ip`/`bridge` batch lines and the egress
 * nft script: only a dotted IPv4 node IP, a MAC, and a subnet inside the cluster network that
 * does not overlap this node's own.
 */
export function peerProblem(p: Peer, self: Pick<Self, 'podCidr' | 'clusterCidr'>): string | null {
  try {
    ipToInt(p.nodeIp);
  } catch {
    return `node ${p.name} publishes an invalid node IP ${JSON.stringify(p.nodeIp)}`;
  }
  if (p.vtepMac !== undefined && !isMacAddress(p.vtepMac))
    return `node ${p.name} publishes an invalid VTEP MAC ${JSON.stringify(p.vtepMac)} (${VTEP_MAC_ANNOTATION})`;
  const subnet = subnetProblem(p.podCidr, self.clusterCidr);
  if (subnet) return `node ${p.name}: ${subnet}`;
  if (cidrsOverlap(parseCidr(p.podCidr), parseCidr(self.podCidr)))
    return `node ${p.name}: podCIDR ${p.podCidr} overlaps this node's ${self.podCidr}`;
  return null;
}

/** The peers other than `self` whose facts can be programmed, by name, and why the others cannot. */
export function validPeers(
  self: Pick<Self, 'name' | 'podCidr' | 'clusterCidr'>,
  nodes: Iterable<Node>,
): { peers: Peer[]; errors: string[] } {
  const peers: Peer[] = [];
  const errors: string[] = [];
  for (const n of nodes) {
    if (n.metadata.name === self.name) continue;
    const p = peerOf(n);
    if (!p) continue;
    const problem = peerProblem(p, self);
    if (problem) errors.push(problem);
    else peers.push(p);
  }
  return { peers: peers.sort((a, b) => a.name.localeCompare(b.name)), errors };
}

/** The network address of a subnet (`10.244.2.0/24` → `10.244.2.0`), the peer's VTEP address. */
const subnetBase = (cidr: string) => nthIp(parseCidr(cidr), 0);

export function renderOverlay(self: Self, backend: Backend, nodes: Iterable<Node>): DesiredNet {
  const { peers, errors } = validPeers(self, nodes);
  const out: DesiredNet = { vxlan: null, addresses: [], routes: [], neighbours: [], fdb: [], errors, peers };
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
