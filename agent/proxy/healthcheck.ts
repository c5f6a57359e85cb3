// The health check of externalTrafficPolicy Local Services: on every node an HTTP server on the
// Service's healthCheckNodePort answers 200 when the node has a local endpoint and 503 when it
// has none, so an outside load balancer sends traffic only to nodes that keep the client's
// address and can serve it. The body is kube-proxy's JSON.
import { createServer, type Server } from 'node:http';
import type { EndpointSlice, Service } from '../../controlplane/shared/kube/index.ts';
import { categorize } from './endpoints.ts';
import { proxied, type ProxyNodeFacts } from './render.ts';

export interface HealthTarget {
  namespace: string;
  name: string;
  localEndpoints: number;
}

/** The health-check port a Service needs on this node, and its local endpoint count. Pure. */
export function healthTarget(
  svc: Service,
  slices: EndpointSlice[],
  facts: ProxyNodeFacts,
): [number, HealthTarget] | null {
  const s = svc.spec;
  if (!proxied(svc, facts) || s.type !== 'LoadBalancer' || s.externalTrafficPolicy !== 'Local') return null;
  if (!s.healthCheckNodePort) return null;
  const local = new Set<string>();
  for (const port of s.ports ?? []) for (const e of categorize(port, slices, facts.nodeName).local) local.add(e.ip);
  return [
    s.healthCheckNodePort,
    { namespace: String(svc.metadata.namespace), name: String(svc.metadata.name), localEndpoints: local.size },
  ];
}

export class HealthServers {
  private servers = new Map<number, Server>();
  private targets = new Map<number, HealthTarget>();
  /** False while the proxy's last sync failed. */
  healthy = true;
  private readonly host: string;
  private readonly log: (s: string) => void;
  constructor(host = '0.0.0.0', log: (s: string) => void = () => {}) {
    this.host = host;
    this.log = log;
  }

  /** Opens the ports newly wanted, closes the ones no longer wanted, updates the answers. */
  update(want: Map<number, HealthTarget>): void {
    this.targets = want;
    for (const [port, server] of this.servers)
      if (!want.has(port)) {
        server.close();
        this.servers.delete(port);
      }
    for (const port of want.keys()) {
      if (this.servers.has(port)) continue;
      const server = createServer((req, res) => {
        const t = this.targets.get(port);
        const body = {
          service: { namespace: t?.namespace ?? '', name: t?.name ?? '' },
          localEndpoints: t?.localEndpoints ?? 0,
          serviceProxyHealthy: this.healthy,
        };
        res.writeHead(body.localEndpoints > 0 && this.healthy ? 200 : 503, {
          'Content-Type': 'application/json',
          'X-Content-Type-Options': 'nosniff',
        });
        res.end(JSON.stringify(body));
        req.resume();
      });
      server.on('error', (e) => {
        this.log(`health check port ${port}: ${e.message}`);
        this.servers.delete(port);
      });
      server.listen(port, this.host);
      this.servers.set(port, server);
    }
  }

  close(): void {
    for (const s of this.servers.values()) s.close();
    this.servers.clear();
  }
}
