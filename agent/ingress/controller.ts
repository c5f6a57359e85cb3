// The ingress controller every agent runs: listeners on the node's address, a route table rebuilt
// from the whole network view on every change (level-triggered), certificates swapped in place,
// problems turned into Warning Events on the Ingress (one per problem cluster-wide: the Event's
// name is derived from it, so the agents that find the same problem meet on one object), and the
// metrics on their own port.
import type { Log } from '../../controlplane/shared/log.ts';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { ApiStatusError, type ApiClient } from '../api.ts';
import type { NetworkView } from '../network/view.ts';
import { CertStore, defaultCertificate } from './certs.ts';
import { IngressMetrics } from './metrics.ts';
import { DEFAULT_LIMITS, IngressProxy, type ProxyLimits } from './proxy.ts';
import { buildRoutes, type Problem } from './routes.ts';

export interface IngressControllerConfig {
  view: NetworkView;
  /** The node's address: the listeners bind to it. */
  address: string;
  httpPort: number;
  httpsPort: number;
  /** Prometheus metrics on this port of the node's address (0: none). */
  metricsPort: number;
  dataDir: string;
  nodeName: string;
  api?: ApiClient;
  limits?: Partial<ProxyLimits>;
  log: Log;
}

export class IngressController {
  private readonly cfg: IngressControllerConfig;
  private readonly metrics = new IngressMetrics();
  private proxy?: IngressProxy;
  private certs?: CertStore;
  private metricsServer?: Server;
  private unsubscribe?: () => void;
  private reported = new Set<string>();

  constructor(cfg: IngressControllerConfig) {
    this.cfg = cfg;
  }

  async start(): Promise<void> {
    const def = await defaultCertificate(join(this.cfg.dataDir, 'ingress'));
    this.certs = new CertStore(def);
    this.proxy = new IngressProxy({
      address: this.cfg.address,
      httpPort: this.cfg.httpPort,
      httpsPort: this.cfg.httpsPort,
      limits: { ...DEFAULT_LIMITS, ...this.cfg.limits },
      certs: this.certs,
      defaultCert: def,
      metrics: this.metrics,
    });
    await this.proxy.start();
    this.unsubscribe = this.cfg.view.subscribe((changes) => {
      if (changes.some((c) => c.kind !== 'networkPolicies')) this.reconcile();
    });
    this.reconcile();
    if (this.cfg.metricsPort) {
      const srv = createServer((req, res) => {
        if (req.url !== '/metrics') {
          res.writeHead(404).end('not found\n');
          return;
        }
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(this.metrics.render());
      });
      this.metricsServer = srv;
      await new Promise<void>((ok, fail) => srv.once('error', fail).listen(this.cfg.metricsPort, this.cfg.address, ok));
    }
    const p = this.proxy.ports();
    this.cfg.log(`ingress: serving http on ${this.cfg.address}:${p.http}, https on ${this.cfg.address}:${p.https}`);
  }

  ports(): { http: number; https: number } {
    return this.proxy?.ports() ?? { http: 0, https: 0 };
  }

  /** The route table and the certificates from the view as it is now. */
  reconcile(): void {
    if (!this.proxy || !this.certs) return;
    const v = this.cfg.view;
    const table = buildRoutes({
      ingresses: v.ingresses.values(),
      ingressClasses: v.ingressClasses.values(),
      services: v.services,
      endpointSlices: v.endpointSlices.values(),
    });
    const problems = [...table.problems, ...this.certs.update(table, v.secrets)];
    this.proxy.setTable(table);
    // Before the first full snapshot a missing Service or Secret may only be late: no Events yet.
    if (v.synced) this.report(problems);
  }

  private report(problems: Problem[]): void {
    const now = new Set<string>();
    for (const p of problems) {
      const k = `${p.ingress}\n${p.reason}\n${p.message}`;
      now.add(k);
      if (this.reported.has(k)) continue;
      this.cfg.log(`ingress ${p.ingress}: ${p.reason}: ${p.message}`, 'warn');
      void this.event(p);
    }
    this.reported = now;
  }

  private async event(p: Problem): Promise<void> {
    const ing = this.cfg.view.ingresses.get(p.ingress);
    if (!this.cfg.api || !ing?.metadata.uid) return;
    const ns = ing.metadata.namespace ?? 'default';
    const id = createHash('sha256').update(`${ing.metadata.uid}/${p.reason}/${p.message}`).digest('hex').slice(0, 16);
    const time = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    try {
      await this.cfg.api.create(`/api/v1/namespaces/${ns}/events`, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: `${ing.metadata.name}.${id}`, namespace: ns },
        involvedObject: {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'Ingress',
          namespace: ns,
          name: ing.metadata.name,
          uid: ing.metadata.uid,
        },
        reason: p.reason,
        message: p.message,
        type: 'Warning',
        source: { component: 'skiff-ingress', host: this.cfg.nodeName },
        firstTimestamp: time,
        lastTimestamp: time,
        count: 1,
      });
    } catch (e) {
      // Another node's agent reported the same problem first.
      if (!(e instanceof ApiStatusError && e.code === 409))
        this.cfg.log(`ingress event: ${(e as Error).message}`, 'warn');
    }
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    await this.proxy?.stop();
    const closed = new Promise<void>((ok) => (this.metricsServer ? this.metricsServer.close(() => ok()) : ok()));
    this.metricsServer?.closeAllConnections();
    await closed;
  }
}
