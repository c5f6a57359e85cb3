// The agent's cluster DNS: places the cluster DNS address on this node, answers on it (UDP and
// TCP port 53), and keeps the zone level with the network view: every batch of Service or
// EndpointSlice changes renders the whole zone again and swaps it in; a Service whose objects did
// not change keeps its encoded names (zone.ts's ZoneRenderer), so a change costs one Service's work.
import { readFileSync } from 'node:fs';
import type { MetricsRegistry } from '../metrics.ts';
import type { NetworkChange, NetworkView } from '../network/view.ts';
import { Forwarder } from './forwarder.ts';
import { DnsMetrics } from './metrics.ts';
import { ensurePlacement } from './placement.ts';
import { Resolver } from './resolver.ts';
import { DnsServer } from './server.ts';
import { parseUpstreams, type Upstream, upstreamsFromResolvConf } from './upstreams.ts';
import { ZoneRenderer } from './zone.ts';

export interface ClusterDNSOptions {
  view: NetworkView;
  /** The cluster DNS address (--cluster-dns). */
  address: string;
  domain: string;
  ttl: number;
  /** --dns-upstream as given ('' for none), or undefined for the host's resolv.conf. */
  upstreams?: string;
  metrics?: MetricsRegistry;
  log: (s: string) => void;
  /** Tests: the port, and whether to create the interface and table (default true). */
  port?: number;
  placement?: boolean;
  resolvConf?: string;
  /** How long to wait for the first complete view before answering anyway (ms). */
  syncWaitMs?: number;
}

export class ClusterDNS {
  readonly metrics = new DnsMetrics();
  readonly resolver: Resolver;
  readonly forwarder: Forwarder;
  private server: DnsServer;
  private o: ClusterDNSOptions;
  private unsubscribe: (() => void) | null = null;
  private scheduled = false;
  private serial = 0;
  private zones = new ZoneRenderer();

  constructor(o: ClusterDNSOptions) {
    this.o = o;
    this.forwarder = new Forwarder({ upstreams: this.upstreams() }, this.metrics);
    this.resolver = new Resolver(o.domain, this.metrics, this.forwarder);
    this.server = new DnsServer(this.resolver, this.metrics, { address: o.address, port: o.port ?? 53 });
    if (o.metrics) this.metrics.register(o.metrics);
  }

  private upstreams(): Upstream[] {
    if (this.o.upstreams !== undefined) return parseUpstreams(this.o.upstreams);
    let text = '';
    try {
      text = readFileSync(this.o.resolvConf ?? '/etc/resolv.conf', 'utf8');
    } catch {}
    return upstreamsFromResolvConf(text, this.o.address);
  }

  async start(): Promise<void> {
    if (this.o.placement !== false) await ensurePlacement(this.o.address);
    this.render();
    this.unsubscribe = this.o.view.subscribe((changes) => this.onChange(changes));
    await this.forwarder.start();
    // Answer only once the view is complete: an agent that restarts binds next to the old one
    // (SO_REUSEPORT), and an empty zone would give NXDOMAIN for every cluster name meanwhile.
    const deadline = Date.now() + (this.o.syncWaitMs ?? 30_000);
    while (!this.o.view.synced && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    this.render();
    await this.server.start();
    const ups = this.upstreams();
    this.o.log(
      `cluster DNS on ${this.o.address}:${this.server.port} for ${this.o.domain}; ` +
        `upstreams ${ups.map((u) => `${u.host}:${u.port}`).join(', ') || 'none'}`,
    );
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    await this.server.stop();
    this.forwarder.stop();
  }

  private onChange(changes: NetworkChange[]): void {
    if (!changes.some((c) => c.kind === 'services' || c.kind === 'endpointSlices')) return;
    if (this.scheduled) return;
    // One render per turn of the event loop however many batches arrive in it.
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.render();
    });
  }

  render(): void {
    // The SOA serial follows the clock, and only ever goes up.
    this.serial = Math.max(this.serial + 1, Math.floor(Date.now() / 1000));
    // It runs from setImmediate: a throw here would end the agent, so the last zone stays instead.
    try {
      this.resolver.zone = this.zones.render(
        { services: this.o.view.services.values(), endpointSlices: this.o.view.endpointSlices.values() },
        { domain: this.o.domain, ttl: this.o.ttl, dnsIP: this.o.address, serial: this.serial },
      );
    } catch (e) {
      this.o.log(`dns: the zone was not rendered, the last one is served: ${(e as Error).message}`);
    }
    for (const p of this.zones.problems) this.o.log(`dns: ${p}`);
  }
}
