// Chain and set names that read like the cluster in `nft list table ip skiff-proxy-I`:
// `svc-default/web/tcp/80`, `endpoints-default/web/tcp/80-1a2b3c4d`. Namespaces, names and
// IPs only hold characters nft accepts in an unquoted identifier. Names past the limit are cut
// and end in a hash of the whole, so two long names never collide.
import { createHash } from 'node:crypto';
import type { Proto } from './model.ts';

/** Well under the kernel's 256 so `nft list` stays readable; a DNS-label namespace and name fit. */
export const MAX_NAME = 120;

export function limitName(raw: string): string {
  if (raw.length <= MAX_NAME) return raw;
  const hash = createHash('sha256').update(raw).digest('hex').slice(0, 10);
  return `${raw.slice(0, MAX_NAME - 11)}-${hash}`;
}

export interface PortId {
  namespace: string;
  name: string;
  proto: Proto;
  port: number;
}

const base = (p: PortId) => `${p.namespace}/${p.name}/${p.proto}/${p.port}`;

/** The chain spreading a service port's internal (and short-circuited) traffic over all its endpoints. */
export const serviceChain = (p: PortId) => limitName(`svc-${base(p)}`);
const digest = (targets: string[]) => createHash('sha256').update(targets.join('\n')).digest('hex').slice(0, 8);
/**
 * The data map `svc-…` DNATs through (`dnat ip to numgen random mod N map @endpoints-…`,
 * `0 : IP . PORT, …`). Its name ends in a hash of what it holds, in order: other endpoints make
 * another map, which is declared with its elements and never changed (see docs/proxy.md, "Why
 * partial syncs are flat"). Its prefix is not the verdict maps' `eps-`, so a map left by an agent
 * of the chain-per-endpoint layout can never share a name (and with it, refuse the type).
 */
export const endpointMap = (p: PortId, endpoints: string[]) => limitName(`endpoints-${base(p)}-${digest(endpoints)}`);
/** The same over this node's endpoints (traffic policy Local). */
export const localEndpointMap = (p: PortId, endpoints: string[]) =>
  limitName(`local-endpoints-${base(p)}-${digest(endpoints)}`);
/**
 * With session affinity, the verdict map `svc-…` picks an endpoint chain from (`numgen random mod
 * N vmap @eps-…`), named like the data map after a hash of the chains it holds.
 */
export const serviceMap = (p: PortId, targets: string[]) => limitName(`eps-${base(p)}-${digest(targets)}`);
/** The chain over this node's endpoints only (traffic policy Local). */
export const localChain = (p: PortId) => limitName(`local-${base(p)}`);
/** The verdict map `local-…` picks from, with session affinity. */
export const localMap = (p: PortId, targets: string[]) => limitName(`local-eps-${base(p)}-${digest(targets)}`);
/** NodePort, externalIP and LoadBalancer-IP traffic enters here. */
export const externalChain = (p: PortId) => limitName(`ext-${base(p)}`);
/** loadBalancerSourceRanges of the port's LoadBalancer IPs. */
export const firewallChain = (p: PortId) => limitName(`fw-${base(p)}`);
/** A session-affinity Service's chain for one endpoint (`ep-default/web/tcp/80__10.244.1.5/8080`). */
export const endpointChain = (p: PortId, ip: string, port: number) => limitName(`ep-${base(p)}__${ip}/${port}`);
/** Session-affinity clients recently sent to this endpoint. */
export const affinitySet = (p: PortId, ip: string, port: number) => limitName(`aff-${base(p)}__${ip}/${port}`);
