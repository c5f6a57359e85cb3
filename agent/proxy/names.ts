// Chain and set names that read like the cluster in `nft list table ip skiff-proxy-I`:
// `svc-default/web/tcp/80`, `ep-default/web/tcp/80__10.244.1.5/8080`. Namespaces, names and
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
 * The verdict map `svc-…` picks an endpoint chain from (`numgen random mod N vmap @eps-…`). Its
 * name ends in a hash of the chains it holds, in order: other endpoints make another map, which
 * is declared with its elements and never changed (see docs/proxy.md, "why partial syncs are flat").
 */
export const serviceMap = (p: PortId, targets: string[]) => limitName(`eps-${base(p)}-${digest(targets)}`);
/** The chain over this node's endpoints only (traffic policy Local). */
export const localChain = (p: PortId) => limitName(`local-${base(p)}`);
/** The map `local-…` picks from. */
export const localMap = (p: PortId, targets: string[]) => limitName(`local-eps-${base(p)}-${digest(targets)}`);
/** NodePort, externalIP and LoadBalancer-IP traffic enters here. */
export const externalChain = (p: PortId) => limitName(`ext-${base(p)}`);
/** loadBalancerSourceRanges of the port's LoadBalancer IPs. */
export const firewallChain = (p: PortId) => limitName(`fw-${base(p)}`);
export const endpointChain = (p: PortId, ip: string, port: number) => limitName(`ep-${base(p)}__${ip}/${port}`);
/** Session-affinity clients recently sent to this endpoint. */
export const affinitySet = (p: PortId, ip: string, port: number) => limitName(`aff-${base(p)}__${ip}/${port}`);
