// The desired proxy tables (the shared `ip skiff-proxy` and the shards), rendered from Services,
// EndpointSlices and this node's facts. Pure: the same input gives the same data. docs/proxy.md
// describes the design; in short, a lookup in the shared table's dispatch maps marks a new
// connection for its Service's shard, and one in that shard's verdict maps keyed by destination
// (service-ips, service-nodeports) jumps to a chain per service port,
// which DNATs to an endpoint picked with numgen from a data map (with session affinity: picks a
// chain per endpoint); filter-hook chains in the shared table refuse what the nat maps do not take
// (no endpoints, unallocated service IPs).
import type { EndpointSlice, Service } from '../../controlplane/shared/kube/index.ts';
import { SERVICE_NAME_LABEL } from '../../controlplane/shared/kube/index.ts';
import { objectKey } from '../network/view.ts';
import { categorize, protoOf, slicesOf, usableV4, type ProxyEndpoint } from './endpoints.ts';
import { validPort } from '../../controlplane/shared/net-values.ts';
import { formatCidr, nthIp, parseCidr } from '../../controlplane/shared/cidr.ts';
import {
  addElement,
  addMember,
  dstKey,
  emptyFragment,
  mergeFragments,
  portKey,
  type Chain,
  type Fragment,
  type Match,
  type Rule,
  type TableSpec,
  type Tables,
  type Verdict,
  DEFAULT_SHARDS,
  shardIndex,
  shardOf,
  shardTable,
  TABLE,
} from './model.ts';
import {
  affinitySet,
  endpointChain,
  endpointMap,
  externalChain,
  firewallChain,
  localChain,
  localEndpointMap,
  localMap,
  serviceChain,
  serviceMap,
  type PortId,
} from './names.ts';

export interface ProxyNodeFacts {
  nodeName: string;
  /** This node's own addresses (NodePorts answer on every local address; the tracer uses them). */
  nodeIPs: string[];
  /** This node's pod subnet: its pods' traffic to external destinations short-circuits. */
  podCIDR: string;
  /** All pods: traffic from elsewhere to a ClusterIP is masqueraded. */
  clusterCIDR: string;
  serviceCIDR: string;
  /** Answered node-locally without conntrack by the DNS subsystem: no rule may touch it. */
  clusterDNS?: string;
  /**
   * Whether the kernel takes a verdict map in a plain key lookup (Linux 6.5 relaxed that check;
   * older kernels refuse the rule, and with it the whole transaction). Unset means yes.
   */
  mapKeyLookup?: boolean;
}

/** Every ClusterIP programmed: traffic to one on a port no Service uses is rejected. */
export const CLUSTER_IPS_SET = 'cluster-ips';
/**
 * `IP . IP` for every address of this node's pod subnet: a connection whose source and (DNATed)
 * destination are one pod is a hairpin, and is masqueraded so the pod takes the answer.
 */
export const HAIRPIN_SET = 'hairpin-pairs';
/** The dispatch: every key of the shards' `service-ips` → `goto to-shard-I` (I: the key's shard). */
export const SHARD_IPS = 'shard-ips';
/** The same for the shards' `service-nodeports`. */
export const SHARD_NODEPORTS = 'shard-nodeports';
/** The shared chain that marks a new connection for shard I's nat chain. */
export const toShardChain = (i: number) => `to-shard-${i}`;
/** The shared table's fixed maps and set (the filter-hook checks and the dispatch look them up). */
export const SHARED_SPEC: TableSpec = {
  name: TABLE,
  maps: [
    { name: 'no-endpoint-services', key: 'dst' },
    { name: 'no-endpoint-nodeports', key: 'port' },
    { name: 'firewall-ips', key: 'dst' },
    { name: SHARD_IPS, key: 'dst' },
    { name: SHARD_NODEPORTS, key: 'port' },
  ],
  sets: [{ name: CLUSTER_IPS_SET }, { name: HAIRPIN_SET, pairs: true }],
};
/** The fixed part of a table of ours, by its name. */
export function specOf(table: string): TableSpec {
  const i = shardIndex(table);
  if (i !== undefined) return shardSpec(i);
  if (table === TABLE) return SHARED_SPEC;
  throw new Error(`${table} is not a table of the proxy`);
}
/** A shard's fixed maps: the dispatch of its own Services. */
export const shardSpec = (i: number): TableSpec => ({
  name: shardTable(i),
  maps: [
    { name: 'service-ips', key: 'dst' },
    { name: 'service-nodeports', key: 'port' },
  ],
  sets: [],
});
/** Default ClientIP affinity timeout (Kubernetes' default: 3 hours). */
const AFFINITY_DEFAULT = 10800;

const r = (match: Match[], action: Rule['action']): Rule => ({ match, action });
const ctNew: Match = { m: 'ctNew' };
const FILTER = -110; // before DNAT (-100): sees the Service address the client used
const NAT = -100;
const DISPATCH = NAT - 1; // names the shard before the shards' nat chains run
const notLoopback: Match = { m: 'addr', field: 'daddr', neg: true, cidr: '127.0.0.0/8' };
/**
 * A NodePort: a port the map has, on this node's own addresses, never on 127.0.0.0/8
 * (CVE-2020-8558). Where the kernel allows it the map lookup comes first: it fails fast for every
 * other connection, which then skips the route lookup `fib` costs, once in each shard it passes.
 */
function nodePortMatch(map: string, facts: ProxyNodeFacts): Match[] {
  const local: Match[] = [{ m: 'fibLocal', field: 'daddr' }, notLoopback];
  return facts.mapKeyLookup === false ? local : [{ m: 'portIn', map }, ...local];
}

/** Largest pod subnet whose addresses get hairpin pairs (a /16: 65,533 elements). */
const HAIRPIN_MAX_ADDRESSES = 65536;

/**
 * The hairpin pairs of a pod subnet: its pod addresses, from the second (the first is the
 * bridge's); none for one that does not parse, is larger than a /16 or smaller than a /30.
 */
export function hairpinPairs(podCIDR: string): string[] {
  let c: ReturnType<typeof parseCidr>;
  try {
    c = parseCidr(podCIDR);
  } catch {
    return [];
  }
  if (c.size > HAIRPIN_MAX_ADDRESSES || c.size < 4) return [];
  const out: string[] = [];
  for (let i = 2; i < c.size - 1; i++) {
    const ip = nthIp(c, i);
    out.push(`${ip} . ${ip}`);
  }
  return out;
}

/**
 * The shared table's fixed part: filter-hook checks, the dispatch to the shards, masquerading,
 * and the chains their maps' verdicts name.
 */
export function renderShared(facts: ProxyNodeFacts, shards: number): Fragment {
  const f = emptyFragment();
  for (const pair of hairpinPairs(facts.podCIDR)) addMember(f, HAIRPIN_SET, pair);
  const clusterIpsCheck: Rule[] = [];
  // The node-local DNS address is no Service of ours: never reject traffic to it.
  if (facts.clusterDNS)
    clusterIpsCheck.push(r([{ m: 'addr', field: 'daddr', cidr: facts.clusterDNS }], { a: 'return' }));
  clusterIpsCheck.push(
    r([{ m: 'inSet', field: 'daddr', set: CLUSTER_IPS_SET }], { a: 'reject' }),
    r([{ m: 'addr', field: 'daddr', cidr: facts.serviceCIDR }], { a: 'reject' }),
  );
  const chains: Chain[] = [
    {
      name: 'filter-prerouting',
      hook: { type: 'filter', hook: 'prerouting', priority: FILTER },
      rules: [r([ctNew], { a: 'jump', chain: 'firewall-check' })],
    },
    {
      name: 'filter-input',
      hook: { type: 'filter', hook: 'input', priority: FILTER },
      rules: [
        r([ctNew], { a: 'jump', chain: 'nodeport-endpoints-check' }),
        r([ctNew], { a: 'jump', chain: 'service-endpoints-check' }),
      ],
    },
    {
      name: 'filter-forward',
      hook: { type: 'filter', hook: 'forward', priority: FILTER },
      rules: [
        r([ctNew], { a: 'jump', chain: 'service-endpoints-check' }),
        r([ctNew], { a: 'jump', chain: 'cluster-ips-check' }),
      ],
    },
    {
      name: 'filter-output',
      hook: { type: 'filter', hook: 'output', priority: FILTER },
      rules: [
        r([ctNew], { a: 'jump', chain: 'service-endpoints-check' }),
        r([ctNew], { a: 'jump', chain: 'firewall-check' }),
      ],
    },
    {
      // After the output DNAT: what still goes to a service address was not taken by any Service.
      name: 'filter-output-post-dnat',
      hook: { type: 'filter', hook: 'output', priority: NAT + 10 },
      rules: [r([ctNew], { a: 'jump', chain: 'cluster-ips-check' })],
    },
    // One lookup names a new connection's shard; each shard's nat chain then passes on the
    // connections not marked for it with one compare, not two map lookups (docs/proxy.md, "Tables").
    {
      name: 'nat-dispatch-prerouting',
      hook: { type: 'nat', hook: 'prerouting', priority: DISPATCH },
      rules: [r([], { a: 'jump', chain: 'dispatch' })],
    },
    {
      name: 'nat-dispatch-output',
      hook: { type: 'nat', hook: 'output', priority: DISPATCH },
      rules: [r([], { a: 'jump', chain: 'dispatch' })],
    },
    {
      name: 'dispatch',
      rules: [
        r([], { a: 'vmap', key: 'dst', map: SHARD_IPS }),
        r(nodePortMatch(SHARD_NODEPORTS, facts), { a: 'vmap', key: 'port', map: SHARD_NODEPORTS }),
      ],
    },
    ...Array.from({ length: shards }, (_, i) => ({
      name: toShardChain(i),
      rules: [r([], { a: 'markShard', shard: i })],
    })),
    {
      name: 'nat-postrouting',
      hook: { type: 'nat', hook: 'postrouting', priority: 100 },
      rules: [r([], { a: 'jump', chain: 'masquerading' })],
    },
    { name: 'service-endpoints-check', rules: [r([], { a: 'vmap', key: 'dst', map: 'no-endpoint-services' })] },
    {
      name: 'nodeport-endpoints-check',
      rules: [
        r(nodePortMatch('no-endpoint-nodeports', facts), { a: 'vmap', key: 'port', map: 'no-endpoint-nodeports' }),
      ],
    },
    { name: 'cluster-ips-check', rules: clusterIpsCheck },
    { name: 'firewall-check', rules: [r([], { a: 'vmap', key: 'dst', map: 'firewall-ips' })] },
    { name: 'reject-chain', rules: [r([], { a: 'reject' })] },
    {
      name: 'masquerading',
      rules: [
        // A pod sent to itself through a Service (the DNAT is done by now).
        r([{ m: 'ctDnat' }, { m: 'pairIn', set: HAIRPIN_SET }], { a: 'markMasq' }),
        r([{ m: 'masqUnmarked' }], { a: 'return' }),
        // Every connection Skiff marks is one a Service translated: the bit on any other is not
        // Skiff's (a WireGuard fwmark of 51820 = 0xca6c holds it) and is left as it is.
        r([{ m: 'ctNotDnat' }], { a: 'return' }),
        r([], { a: 'unmarkMasq' }),
        r([], { a: 'masquerade' }),
      ],
    },
  ];
  f.chains.push(...chains);
  return f;
}

/**
 * A shard table's fixed part: nat base chains (dstnat, in prerouting and output) dispatching to
 * its own Services. Several nat base chains at one hook work: the kernel stops at the first one
 * that sets up a NAT binding (nf_nat_inet_fn), and a packet none of them takes gets none. A
 * connection the shared dispatch did not mark for this shard leaves at the first rule.
 */
export function renderShardBase(facts: ProxyNodeFacts, shard: number): Fragment {
  const f = emptyFragment();
  const entry = [
    r([{ m: 'notForShard', shard }], { a: 'return' }),
    // The mark bits go back to what they were (0) before anything else sees the packet.
    r([], { a: 'unmarkShard' }),
    r([], { a: 'jump', chain: 'services' }),
  ];
  f.chains.push(
    { name: 'nat-prerouting', hook: { type: 'nat', hook: 'prerouting', priority: NAT }, rules: entry },
    { name: 'nat-output', hook: { type: 'nat', hook: 'output', priority: NAT }, rules: entry },
    {
      name: 'services',
      rules: [
        r([], { a: 'vmap', key: 'dst', map: 'service-ips' }),
        r(nodePortMatch('service-nodeports', facts), { a: 'vmap', key: 'port', map: 'service-nodeports' }),
      ],
    },
    // Each shard marks for the shared table's masquerading (the mark is the packet's, not the table's).
    { name: 'mark-for-masquerade', rules: [r([], { a: 'markMasq' })] },
  );
  return f;
}

const REJECT: Verdict = { v: 'goto', chain: 'reject-chain' };
const DROP: Verdict = { v: 'drop' };

/** A loadBalancerSourceRanges entry as an IPv4 range nft takes (IPv6 and invalid ones: none). */
function v4Range(x: unknown): string[] {
  try {
    return [formatCidr(parseCidr(String(x).trim()))];
  } catch {
    return [];
  }
}

/** Whether the proxy programs this Service at all. */
export function proxied(svc: Service, facts: ProxyNodeFacts): boolean {
  const s = svc.spec;
  if (!s || s.type === 'ExternalName') return false;
  const ip = s.clusterIP;
  if (!usableV4(ip)) return false; // headless ("None"), unallocated, or IPv6
  return ip !== facts.clusterDNS;
}

/** One Service's chains and elements (`slices`: its own, or any superset). */
export function renderService(svc: Service, slices: EndpointSlice[], facts: ProxyNodeFacts): Fragment {
  const f = emptyFragment();
  if (!proxied(svc, facts)) return f;
  const s = svc.spec;
  const clusterIP = s.clusterIP as string;
  addMember(f, CLUSTER_IPS_SET, clusterIP);
  const externalIPs = (s.externalIPs ?? []).filter(usableV4);
  const lbIPs =
    s.type === 'LoadBalancer'
      ? (svc.status?.loadBalancer?.ingress ?? []).filter((i) => i && i.ipMode !== 'Proxy').map((i) => i.ip)
      : [];
  const lbV4 = lbIPs.filter(usableV4);
  // Kubernetes allows 1 s to a day; anything else (a hand-edited store) gets the default.
  const timeout = s.sessionAffinityConfig?.clientIP?.timeoutSeconds;
  const affinity =
    s.sessionAffinity !== 'ClientIP'
      ? 0
      : Number.isInteger(timeout) && (timeout as number) >= 1 && (timeout as number) <= 86400
        ? (timeout as number)
        : AFFINITY_DEFAULT;
  const own = slicesOf(svc, slices);

  for (const port of s.ports ?? []) {
    if (!port || !validPort(port.port)) continue;
    const proto = protoOf(port);
    const id: PortId = {
      namespace: String(svc.metadata.namespace),
      name: String(svc.metadata.name),
      proto,
      port: port.port,
    };
    const { cluster, local } = categorize(port, own, facts.nodeName);
    const internalLocal = s.internalTrafficPolicy === 'Local';
    const externalLocal = s.externalTrafficPolicy === 'Local';
    const hasAny = cluster.length > 0;
    const nodePort =
      (s.type === 'NodePort' || s.type === 'LoadBalancer') && validPort(port.nodePort) ? port.nodePort : 0;
    const hasExternal = nodePort > 0 || externalIPs.length > 0 || lbV4.length > 0;

    // Chains over endpoints: all of them, and this node's own when a policy says Local. Without
    // session affinity a service chain DNATs through a data map of its endpoints, so a Service is
    // one chain in the kernel, not one per endpoint (docs/proxy.md, "Why partial syncs are flat");
    // with it, each endpoint needs a chain of its own to note the client.
    const epChains = new Map<string, ProxyEndpoint>();
    // A named map per spreading chain, not an anonymous one: the kernel names every anonymous set
    // by scanning all sets of the table, which made loading 10,000 Services take minutes.
    const spread = (name: string, local: boolean, eps: ProxyEndpoint[]): Chain => {
      const rules: Rule[] = [
        // Traffic to the ClusterIP from outside the pod network (the node itself, a host) is masqueraded.
        r(
          [
            { m: 'addr', field: 'daddr', cidr: clusterIP },
            { m: 'addr', field: 'saddr', neg: true, cidr: facts.clusterCIDR },
          ],
          { a: 'jump', chain: 'mark-for-masquerade' },
        ),
      ];
      if (!affinity) {
        const texts = eps.map((e) => `${e.ip} . ${e.port}`);
        const map = local ? localEndpointMap(id, texts) : endpointMap(id, texts);
        f.maps.push({ name: map, key: 'numgen', value: 'endpoint' });
        for (const [i, e] of eps.entries()) addElement(f, map, String(i), { v: 'to', ip: e.ip, port: e.port });
        rules.push(r([{ m: 'l4proto', proto }], { a: 'dnatMap', n: eps.length, map }));
        return { name, rules };
      }
      const targets = eps.map((e) => {
        const c = endpointChain(id, e.ip, e.port);
        epChains.set(c, e);
        return c;
      });
      for (const [i, e] of eps.entries()) {
        const set = affinitySet(id, e.ip, e.port);
        rules.push(r([{ m: 'inSet', field: 'saddr', set }], { a: 'goto', chain: targets[i] }));
      }
      const map = local ? localMap(id, targets) : serviceMap(id, targets);
      f.maps.push({ name: map, key: 'numgen' });
      for (const [i, c] of targets.entries()) addElement(f, map, String(i), { v: 'goto', chain: c });
      rules.push(r([], { a: 'numgen', n: targets.length, map }));
      return { name, rules };
    };
    const svcChain = serviceChain(id);
    const locChain = localChain(id);
    if (hasAny) f.chains.push(spread(svcChain, false, cluster));
    if ((internalLocal || externalLocal) && local.length) f.chains.push(spread(locChain, true, local));

    // ClusterIP.
    const internal = internalLocal ? local : cluster;
    if (internal.length)
      addElement(f, 'service-ips', dstKey(clusterIP, proto, port.port), {
        v: 'goto',
        chain: internalLocal ? locChain : svcChain,
      });
    else addElement(f, 'no-endpoint-services', dstKey(clusterIP, proto, port.port), hasAny ? DROP : REJECT);

    // NodePort, externalIPs, LoadBalancer IPs.
    if (hasExternal) {
      const external = externalLocal ? local : cluster;
      const extChain = externalChain(id);
      const verdict: Verdict = external.length ? { v: 'goto', chain: extChain } : hasAny ? DROP : REJECT;
      if (external.length) {
        const rules: Rule[] = externalLocal
          ? [
              // Local policy keeps the client's address, except for traffic that starts on this node.
              r([{ m: 'addr', field: 'saddr', cidr: facts.podCIDR }], { a: 'goto', chain: svcChain }),
              r([{ m: 'fibLocal', field: 'saddr' }], { a: 'jump', chain: 'mark-for-masquerade' }),
              r([{ m: 'fibLocal', field: 'saddr' }], { a: 'goto', chain: svcChain }),
              r([], { a: 'goto', chain: locChain }),
            ]
          : [r([], { a: 'jump', chain: 'mark-for-masquerade' }), r([], { a: 'goto', chain: svcChain })];
        f.chains.push({ name: extChain, rules });
      }
      const toMaps = external.length ? 'service-ips' : 'no-endpoint-services';
      for (const ip of [...externalIPs, ...lbV4]) addElement(f, toMaps, dstKey(ip, proto, port.port), verdict);
      if (nodePort)
        addElement(
          f,
          external.length ? 'service-nodeports' : 'no-endpoint-nodeports',
          portKey(proto, nodePort),
          verdict,
        );
    }

    // loadBalancerSourceRanges: only the listed clients reach the LoadBalancer IPs.
    const ranges = (s.loadBalancerSourceRanges ?? []).flatMap((x) => v4Range(x));
    if (lbV4.length && ranges.length) {
      const fw = firewallChain(id);
      f.chains.push({
        name: fw,
        rules: [r([{ m: 'addrList', field: 'saddr', neg: true, cidrs: ranges }], { a: 'drop' })],
      });
      for (const ip of lbV4) addElement(f, 'firewall-ips', dstKey(ip, proto, port.port), { v: 'goto', chain: fw });
    }

    // Session affinity: one chain per endpoint notes the client, then DNATs (hairpins are marked
    // in the shared table's postrouting, as for every Service).
    for (const [name, e] of epChains) {
      const set = affinitySet(id, e.ip, e.port);
      f.sets.push({ name: set, timeout: affinity });
      f.chains.push({
        name,
        rules: [r([], { a: 'update', set }), r([{ m: 'l4proto', proto }], { a: 'dnat', ip: e.ip, port: e.port })],
      });
    }
  }
  return f;
}

/** Slices grouped under their Service's `namespace/name`. */
export function groupSlices(slices: Iterable<EndpointSlice>): Map<string, EndpointSlice[]> {
  const out = new Map<string, EndpointSlice[]>();
  for (const s of slices) {
    const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
    if (!svc) continue;
    const key = `${s.metadata.namespace}/${svc}`;
    const list = out.get(key);
    if (list) list.push(s);
    else out.set(key, [s]);
  }
  return out;
}

export interface ProxyState {
  services: Iterable<Service>;
  slices: Iterable<EndpointSlice>;
}

/**
 * A Service's fragment split by table: what the shared table's maps and set hold (and the chains
 * their elements go to, the loadBalancerSourceRanges chains) goes to the shared table, the rest
 * to the Service's shard.
 */
export function splitService(f: Fragment, shard: number): { shared: Fragment; own: Fragment } {
  const shared = emptyFragment();
  const own = emptyFragment();
  const sharedMaps = new Set(SHARED_SPEC.maps.map((m) => m.name));
  const sharedChains = new Set<string>();
  const toShard: Verdict = { v: 'goto', chain: toShardChain(shard) };
  for (const [map, els] of f.elements)
    for (const [k, v] of els) {
      const to = sharedMaps.has(map) ? shared : own;
      addElement(to, map, k, v);
      if (to === shared && v.v === 'goto') sharedChains.add(v.chain);
      // The dispatch knows every key its shard's nat maps take, and nothing more.
      if (map === 'service-ips') addElement(shared, SHARD_IPS, k, toShard);
      if (map === 'service-nodeports') addElement(shared, SHARD_NODEPORTS, k, toShard);
    }
  for (const [set, vals] of f.members) for (const v of vals) addMember(shared, set, v);
  for (const c of f.chains) (sharedChains.has(c.name) ? shared : own).chains.push(c);
  own.maps.push(...f.maps);
  own.sets.push(...f.sets);
  return { shared, own };
}

/** A Service's fragment by table: its part of the shared table and of its shard (splitService). */
export function partsByTable(key: string, f: Fragment, shards: number): Map<string, Fragment> {
  const shard = shardOf(key, shards);
  const { shared, own } = splitService(f, shard);
  return new Map([
    [TABLE, shared],
    [shardTable(shard), own],
  ]);
}

/** The tables (shared and each shard) from each Service's parts by table, keyed `namespace/name`. */
export function assembleParts(
  facts: ProxyNodeFacts,
  parts: Map<string, Map<string, Fragment>>,
  shards: number,
): Tables {
  const byTable = new Map<string, Fragment[]>([[TABLE, [renderShared(facts, shards)]]]);
  for (let i = 0; i < shards; i++) byTable.set(shardTable(i), [renderShardBase(facts, i)]);
  // Two Services claiming one key: the first by `namespace/name` keeps it (claims.ts).
  for (const [, p] of [...parts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    for (const [t, f] of p) byTable.get(t)?.push(f);
  return new Map([...byTable].map(([t, fs]) => [t, mergeFragments(fs)]));
}

/** The tables from per-Service fragments keyed `namespace/name`. */
export function assemble(facts: ProxyNodeFacts, services: Map<string, Fragment>, shards: number): Tables {
  const parts = new Map([...services].map(([k, f]) => [k, partsByTable(k, f, shards)]));
  return assembleParts(facts, parts, shards);
}

/** Every table (the applier renders per Service; tests and benches use this). */
export function renderRuleset(state: ProxyState, facts: ProxyNodeFacts, shards = DEFAULT_SHARDS): Tables {
  const bySvc = groupSlices(state.slices);
  const frags = new Map<string, Fragment>();
  for (const svc of state.services)
    frags.set(objectKey(svc), renderService(svc, bySvc.get(objectKey(svc)) ?? [], facts));
  return assemble(facts, frags, shards);
}
