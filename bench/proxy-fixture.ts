// The Services bench/proxy.ts and bench/proxy-nft-cost.ts load: N selector-less Services with one
// TCP port and an EndpointSlice of 5 endpoints each (on another node), in 10.97.0.0/16.
import type { EndpointSlice, Service } from '../controlplane/shared/kube/index.ts';
import type { ProxySource } from '../agent/proxy/applier.ts';
import type { ProxyNodeFacts } from '../agent/proxy/render.ts';

export const EPS = 5;
/** The one real pod the connection-rate part talks to. */
export const POD = '10.244.201.5';

export const facts: ProxyNodeFacts = {
  nodeName: 'n1',
  nodeIPs: ['10.244.201.1'],
  podCIDR: '10.244.201.0/24',
  clusterCIDR: '10.244.0.0/16',
  serviceCIDR: '10.96.0.0/12',
  clusterDNS: '10.96.0.10',
};
export const range = (n: number) => Array.from({ length: n }, (_, i) => i);
export const svcIP = (i: number) => `10.97.${Math.floor(i / 250)}.${(i % 250) + 1}`;
/** Endpoint j of Service i (on other nodes: only the probed Service's endpoint is the real pod). */
export const epIP = (i: number, j: number) =>
  `10.244.${100 + (((i * EPS + j) >> 8) % 100)}.${((i * EPS + j) % 250) + 2}`;
export const endpointsOf = (i: number, real: number) => (i === real ? [POD] : range(EPS).map((j) => epIP(i, j)));

/** `gen` picks the target port (8080 or 8081): bumping it changes every endpoint of the slice. */
export function slice(svc: string, ips: string[], gen: number): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: 'bench', name: `${svc}-x`, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080 + (gen % 2), protocol: 'TCP' }],
    endpoints: ips.map((ip) => ({ addresses: [ip], nodeName: 'n2', conditions: { ready: true } })),
  };
}

/** `n` Services `bench/s0…`; Service `real` has the real pod as its only endpoint. */
export function world(n: number, real: number, gen = 0): ProxySource {
  const src: ProxySource = { services: new Map(), endpointSlices: new Map() };
  for (let i = 0; i < n; i++) {
    const name = `s${i}`;
    const svc: Service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { namespace: 'bench', name },
      spec: { clusterIP: svcIP(i), ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
    };
    src.services.set(`bench/${name}`, svc);
    src.endpointSlices.set(`bench/${name}-x`, slice(name, endpointsOf(i, real), gen));
  }
  return src;
}
