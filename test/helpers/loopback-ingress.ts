// Skiff's ingress proxy on its own, on 127.0.0.1 with ports the kernel picks, in front of backends
// on 127.0.0.1: how the forwarding test and the ingress benches run it (no agent, no API server).
import type { Ingress, IngressClass, Service, EndpointSlice } from '../../controlplane/shared/kube/index.ts';
import { CertStore, defaultCertificate, type KeyPair } from '../../agent/ingress/certs.ts';
import { IngressMetrics } from '../../agent/ingress/metrics.ts';
import { DEFAULT_LIMITS, IngressProxy } from '../../agent/ingress/proxy.ts';
import { buildRoutes, type RouteTable } from '../../agent/ingress/routes.ts';

/** The built-in class, marked default, as the control plane creates it. */
export const DEFAULT_CLASS: IngressClass = {
  metadata: { name: 'skiff', annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } },
  spec: { controller: 'skiff.io/ingress' },
};

/** A started proxy with a default certificate generated in `certDir`. */
export async function startLoopbackIngress(
  certDir: string,
): Promise<{ proxy: IngressProxy; certs: CertStore; defaultCert: KeyPair }> {
  const defaultCert = await defaultCertificate(certDir);
  const certs = new CertStore(defaultCert);
  const proxy = new IngressProxy({
    address: '127.0.0.1',
    httpPort: 0,
    httpsPort: 0,
    limits: DEFAULT_LIMITS,
    certs,
    defaultCert,
    metrics: new IngressMetrics(),
  });
  await proxy.start();
  return { proxy, certs, defaultCert };
}

/**
 * The route table of `ingresses` (default namespace, default class) where each Service named in
 * `backends` has port 80 ("http") and one endpoint, 127.0.0.1 at the given port.
 */
export function loopbackRoutes(ingresses: Ingress[], backends: Record<string, number>): RouteTable {
  const services = new Map<string, Service>();
  const endpointSlices: EndpointSlice[] = [];
  for (const [name, port] of Object.entries(backends)) {
    services.set(`default/${name}`, {
      metadata: { name, namespace: 'default' },
      spec: { ports: [{ name: 'http', port: 80 }] },
    });
    endpointSlices.push({
      metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['127.0.0.1'] }],
      ports: [{ name: 'http', port, protocol: 'TCP' }],
    });
  }
  return buildRoutes({ ingressClasses: [DEFAULT_CLASS], ingresses, services, endpointSlices });
}
