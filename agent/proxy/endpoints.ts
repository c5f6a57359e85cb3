// Which endpoints serve a Service port on this node, from its EndpointSlices. Pure.
// A named targetPort is resolved per slice: the controller groups endpoints whose pods resolve
// the name to the same number into one slice, and each slice carries that number under the
// service port's name. Ready endpoints are used; only when none is left, the ones that are
// terminating but still serving (so a rolling update does not refuse connections).
import type { EndpointSlice, Service, ServicePort } from '../../controlplane/shared/kube/index.ts';
import { SERVICE_NAME_LABEL } from '../../controlplane/shared/kube/index.ts';
import type { Proto } from './model.ts';
import { ipToInt } from '../../controlplane/shared/cidr.ts';
import { validPort } from '../../controlplane/shared/net-values.ts';

/**
 * A dotted IPv4 address a packet may be sent to or taken at: not 0.0.0.0/8, loopback (127/8,
 * route_localnet is CVE-2020-8558), link-local or multicast and above, the addresses Kubernetes
 * refuses as endpoints and externalIPs. Everything here ends up in nft text, so only this passes.
 */
export function usableV4(ip: unknown): ip is string {
  if (typeof ip !== 'string') return false;
  let n: number;
  try {
    n = ipToInt(ip);
  } catch {
    return false;
  }
  const a = n >>> 24;
  return a !== 0 && a !== 127 && a < 224 && n >>> 16 !== 0xa9fe;
}

export interface ProxyEndpoint {
  ip: string;
  port: number;
  nodeName?: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

export interface PortEndpoints {
  /** Usable endpoints anywhere in the cluster. */
  cluster: ProxyEndpoint[];
  /** Usable endpoints on this node. */
  local: ProxyEndpoint[];
}

export const protoOf = (p: { protocol?: string }): Proto => String(p.protocol ?? 'TCP').toLowerCase() as Proto;

/** The IPv4 slices of a Service (its `kubernetes.io/service-name` label, same namespace). */
export function slicesOf(svc: Service, slices: Iterable<EndpointSlice>): EndpointSlice[] {
  const out: EndpointSlice[] = [];
  for (const s of slices)
    if (
      s.addressType === 'IPv4' &&
      s.metadata.namespace === svc.metadata.namespace &&
      s.metadata.labels?.[SERVICE_NAME_LABEL] === svc.metadata.name
    )
      out.push(s);
  return out;
}

/** Every endpoint of one service port, deduplicated by IP:port (a ready copy wins). */
export function portEndpoints(port: ServicePort, slices: EndpointSlice[]): ProxyEndpoint[] {
  const proto = protoOf(port);
  const byAddr = new Map<string, ProxyEndpoint>();
  for (const slice of slices) {
    // Slices are written by hand too, and the API checks their shape only: nulls, bad ports and
    // addresses are skipped here, so they never reach the ruleset.
    const sp = (slice.ports ?? []).find((p) => p && (p.name ?? '') === (port.name ?? '') && protoOf(p) === proto);
    if (!validPort(sp?.port)) continue;
    for (const e of slice.endpoints ?? []) {
      const ip = e?.addresses?.[0];
      if (!usableV4(ip)) continue;
      const ready = e.conditions?.ready !== false;
      const ep: ProxyEndpoint = {
        ip,
        port: sp.port,
        nodeName: e.nodeName,
        ready,
        serving: e.conditions?.serving ?? ready,
        terminating: e.conditions?.terminating === true,
      };
      const key = `${ip}:${sp.port}`;
      const prev = byAddr.get(key);
      if (!prev || (!prev.ready && ep.ready)) byAddr.set(key, ep);
    }
  }
  return [...byAddr.values()].sort((a, b) => (a.ip === b.ip ? a.port - b.port : compareIp(a.ip, b.ip)));
}

/** Ready endpoints, else the terminating ones still serving. */
export function usable(eps: ProxyEndpoint[]): ProxyEndpoint[] {
  const ready = eps.filter((e) => e.ready && !e.terminating);
  return ready.length ? ready : eps.filter((e) => e.serving && e.terminating);
}

export function categorize(port: ServicePort, slices: EndpointSlice[], nodeName: string): PortEndpoints {
  const all = portEndpoints(port, slices);
  return { cluster: usable(all), local: usable(all.filter((e) => e.nodeName === nodeName)) };
}

function compareIp(a: string, b: string): number {
  const x = a.split('.').map(Number),
    y = b.split('.').map(Number);
  for (let i = 0; i < 4; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}
