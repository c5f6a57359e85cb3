// UDP has no connection end: when an endpoint goes away (also when its Service scales to zero),
// the conntrack entries that DNAT to it would keep clients talking to nothing. After each sync
// the proxy deletes the entries of every UDP endpoint a destination lost.
import { execa } from 'execa';
import type { EndpointSlice, Service } from '../../controlplane/shared/kube/index.ts';
import { categorize, protoOf } from './endpoints.ts';
import { proxied, type ProxyNodeFacts } from './render.ts';

/** Destination (`IP:port`, or `:nodePort` for any node address) → endpoint IPs. */
export type UdpFlows = Map<string, Set<string>>;

/** The UDP destinations of a Service and the endpoints each may be translated to. Pure. */
export function udpFlows(svc: Service, slices: EndpointSlice[], facts: ProxyNodeFacts): UdpFlows {
  const out: UdpFlows = new Map();
  if (!proxied(svc, facts)) return out;
  const s = svc.spec;
  const lb = s.type === 'LoadBalancer' ? (svc.status?.loadBalancer?.ingress ?? []).map((i) => i?.ip ?? '') : [];
  const ips = [s.clusterIP as string, ...(s.externalIPs ?? []), ...lb].filter((ip) => /^\d+\.\d+\.\d+\.\d+$/.test(ip));
  for (const port of s.ports ?? []) {
    if (protoOf(port) !== 'udp') continue;
    const { cluster } = categorize(port, slices, facts.nodeName);
    const eps = new Set(cluster.map((e) => e.ip));
    for (const ip of ips) out.set(`${ip}:${port.port}`, eps);
    if (port.nodePort) out.set(`:${port.nodePort}`, eps);
  }
  return out;
}

/** `conntrack -D` argument lists for endpoints that `before` had and `after` lacks. Pure. */
export function staleFlowDeletions(before: UdpFlows, after: UdpFlows): string[][] {
  const out: string[][] = [];
  for (const [dst, eps] of before) {
    const still = after.get(dst) ?? new Set<string>();
    const [ip, port] = dst.split(':');
    for (const ep of eps) {
      if (still.has(ep)) continue;
      out.push(['-D', '-p', 'udp', ...(ip ? ['--orig-dst', ip] : []), '--orig-port-dst', port, '--reply-src', ep]);
    }
  }
  return out;
}

/** Runs the deletions (exit status 1 means "no entry matched", which is fine). */
export async function deleteFlows(deletions: string[][], wrap: string[] = []): Promise<void> {
  for (const args of deletions) {
    const [cmd, ...rest] = [...wrap, 'conntrack', ...args];
    const r = await execa(cmd, rest, { reject: false, timeout: 10_000 });
    if (r.exitCode !== 0 && r.exitCode !== 1)
      throw new Error(`conntrack ${args.join(' ')}: ${String(r.stderr).trim()}`);
  }
}
