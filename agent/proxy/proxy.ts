// The service proxy of one node: follows the network view and keeps `table ip skiff-proxy`
// (applier.ts), a route for the service range, the conntrack entries of vanished UDP endpoints,
// the health-check ports of externalTrafficPolicy Local Services and the LoadBalancer IPs this
// node announces in line with it. Reports sync duration and network programming latency.
import { execa } from 'execa';
import type { EndpointSlice, Service } from '../../controlplane/shared/kube/index.ts';
import type { NetworkChange, NetworkView } from '../network/view.ts';
import { expBuckets, Gauge, Histogram, type MetricsRegistry } from '../metrics.ts';
import { announcedHere, nextPresenceChange, syncAnnounced } from './announce.ts';
import { ProxyApplier, type SyncResult } from './applier.ts';
import { deleteFlows, staleFlowDeletions, udpFlows, type UdpFlows } from './conntrack.ts';
import { healthTarget, HealthServers, type HealthTarget } from './healthcheck.ts';
import { nftCommand } from './nft.ts';
import { programmed } from './programming.ts';
import { hairpinPairs, type ProxyNodeFacts } from './render.ts';
import { PROXY_ROUTE_PROTO } from '../overlay/render.ts';

export interface ServiceProxyOptions {
  view: NetworkView;
  facts: ProxyNodeFacts;
  /** The node interface: LoadBalancer IPs go on it, and the service-range route through it. */
  iface: string;
  metrics?: MetricsRegistry;
  log?: (s: string) => void;
  /** Runs nft/ip/conntrack in another namespace (tests). */
  wrap?: string[];
  minIntervalMs?: number;
  /** Shard tables for the Services (default DEFAULT_SHARDS). */
  shards?: number;
  /** Address the health-check servers bind (default all). */
  healthHost?: string;
}

export class ServiceProxy {
  private readonly o: ServiceProxyOptions;
  private readonly log: (s: string) => void;
  readonly applier: ProxyApplier;
  private readonly health: HealthServers;
  private unsubscribe?: () => void;
  private waitTimer?: NodeJS.Timeout;
  private announceTimer?: NodeJS.Timeout;
  private presenceTimer?: NodeJS.Timeout;
  private flows = new Map<string, UdpFlows>();
  private triggerSeen = new Map<string, string>();
  private firstSync = true;
  private announcing = false;
  private announceAgain = false;
  /** The call that found a sync in progress asked to look at the interface in any case. */
  private lookAgain = false;
  /** The addresses the last successful announcement left on the interface (sorted, joined). */
  private announced?: string;
  private syncDuration?: Histogram;
  private programming?: Histogram;
  private services?: Gauge;
  private endpoints?: Gauge;
  private failures?: Gauge;

  constructor(o: ServiceProxyOptions) {
    this.o = o;
    this.log = o.log ?? (() => {});
    this.health = new HealthServers(o.healthHost, this.log);
    if (o.metrics) {
      this.syncDuration = o.metrics.add(
        new Histogram('skiff_proxy_sync_duration_seconds', 'Time one proxy rule sync took.', expBuckets(0.001, 2, 15)),
      );
      this.programming = o.metrics.add(
        new Histogram(
          'skiff_proxy_network_programming_duration_seconds',
          'From the endpoint change (last-change-trigger-time) to its rules applied on this node.',
          expBuckets(0.005, 2, 14),
        ),
      );
      this.services = o.metrics.add(new Gauge('skiff_proxy_services', 'Services programmed on this node.'));
      this.endpoints = o.metrics.add(
        new Gauge('skiff_proxy_endpoints', 'Endpoints programmed on this node, one per service port and endpoint.'),
      );
      this.failures = o.metrics.add(
        new Gauge('skiff_proxy_sync_failures_total', 'Proxy rule syncs that failed.', 'counter'),
      );
    }
    this.applier = new ProxyApplier({
      nft: nftCommand(o.wrap),
      facts: () => o.facts,
      source: () => o.view,
      minIntervalMs: o.minIntervalMs,
      shards: o.shards,
      log: this.log,
      onSynced: (r) => this.synced(r),
      onFailed: () => {
        this.failures?.inc();
        this.health.healthy = false;
      },
    });
  }

  start(): void {
    this.unsubscribe = this.o.view.subscribe((changes) => this.changed(changes));
    const begin = () => {
      if (!this.o.view.synced) {
        this.waitTimer = setTimeout(begin, 100);
        return;
      }
      this.log(`proxy: programming services (service range ${this.o.facts.serviceCIDR})`);
      if (hairpinPairs(this.o.facts.podCIDR).length === 0)
        this.log(
          `proxy: warning: no hairpin pairs for pod subnet "${this.o.facts.podCIDR}" (only /16 to /30 get them): ` +
            'a pod reaching itself through its Service gets no answer',
        );
      this.ensureRoute().catch((e) => this.log(`proxy: service route: ${(e as Error).message}`));
      this.applier.start();
    };
    begin();
    // Node readiness changes arrive with the view; this also retries a failed announcement.
    this.announceTimer = setInterval(() => this.announce(true), 5_000);
  }

  stop(): void {
    this.unsubscribe?.();
    clearTimeout(this.waitTimer);
    clearInterval(this.announceTimer);
    clearTimeout(this.presenceTimer);
    this.applier.stop();
    this.health.close();
  }

  private changed(changes: NetworkChange[]): void {
    if (!this.o.view.synced) return;
    const services: string[] = [];
    const slices: string[] = [];
    let nodes = false;
    for (const c of changes) {
      if (c.kind === 'services') services.push(c.key);
      else if (c.kind === 'endpointSlices') slices.push(c.key);
      else if (c.kind === 'nodes') nodes = true;
    }
    if (services.length) this.applier.servicesChanged(services);
    if (slices.length) this.applier.slicesChanged(slices);
    if (services.length || slices.length || nodes) this.announce();
  }

  /** The node's own traffic to a ClusterIP must be routable before the output-hook DNAT. */
  private async ensureRoute(): Promise<void> {
    const [cmd, ...args] = [
      ...(this.o.wrap ?? []),
      'ip',
      'route',
      'replace',
      this.o.facts.serviceCIDR,
      'dev',
      this.o.iface,
      'src',
      this.o.facts.nodeIPs[0],
      'proto',
      String(PROXY_ROUTE_PROTO),
    ];
    const r = await execa(cmd, args, { reject: false, timeout: 10_000 });
    if (r.exitCode !== 0) throw new Error(String(r.stderr).trim());
  }

  private synced(r: SyncResult): void {
    const view = this.o.view;
    this.syncDuration?.observe(r.durationMs / 1000);
    this.services?.set(r.services);
    this.endpoints?.set(r.endpoints);
    this.health.healthy = true;
    if (r.full || r.lines)
      this.log(
        `proxy: ${r.full ? 'full' : 'partial'} sync of ${r.keys.length} service(s) ` +
          `in ${r.durationMs.toFixed(1)} ms, ${r.lines} change(s)`,
      );
    const slicesOf = (key: string) => this.applier.slicesFor(key);
    const now = Date.now();
    const deletions: string[][] = [];
    const keys = r.full ? new Set([...r.keys, ...this.flows.keys()]) : new Set(r.keys);
    for (const key of keys) {
      const svc = view.services.get(key);
      const slices = slicesOf(key);
      // Network programming latency: once per slice change, never for what predates this agent.
      // Each is logged too, exact where the histogram has buckets (bench/proxy-latency.ts reads it).
      for (const p of programmed(slices, this.triggerSeen, now, !this.firstSync)) {
        this.programming?.observe(p.ms / 1000);
        this.log(`proxy: programmed ${p.slice} ${p.ms} ms after its change (trigger ${p.trigger})`);
      }
      const after = svc ? udpFlows(svc, slices, this.o.facts) : new Map();
      const before = this.flows.get(key);
      if (before) deletions.push(...staleFlowDeletions(before, after));
      if (after.size) this.flows.set(key, after);
      else this.flows.delete(key);
    }
    if (this.firstSync) {
      this.firstSync = false;
      this.announce();
    }
    if (deletions.length)
      deleteFlows(deletions, this.o.wrap).catch((e) => this.log(`proxy: conntrack: ${(e as Error).message}`));
    this.updateHealth();
  }

  private updateHealth(): void {
    const want = new Map<number, HealthTarget>();
    for (const [key, svc] of this.o.view.services) {
      if (svc.spec?.type !== 'LoadBalancer' || svc.spec.externalTrafficPolicy !== 'Local') continue;
      const t = healthTarget(svc, this.applier.slicesFor(key), this.o.facts);
      if (t) want.set(t[0], t[1]);
    }
    this.health.update(want);
  }

  /**
   * Puts on the node interface exactly the LoadBalancer IPs this node announces. A change in the
   * view that leaves the set as it was reads nothing: reading the interface costs a process, and
   * starting one stalls the agent's event loop (~20 ms here) and every subsystem with it. The
   * 5 s timer looks at the interface whatever the view says, so drift is still repaired.
   */
  private announce(look = false): void {
    // Not before the first sync has indexed the slices: a restart must not move any address.
    if (!this.o.view.synced || this.firstSync) return;
    if (this.announcing) {
      this.announceAgain = true;
      this.lookAgain ||= look;
      return;
    }
    this.announcing = true;
    const view = this.o.view;
    const lbs: [Service, EndpointSlice[]][] = [];
    for (const [k, s] of view.services) if (s.spec?.type === 'LoadBalancer') lbs.push([s, this.applier.slicesFor(k)]);
    const now = Date.now();
    const want = announcedHere(lbs, view.nodes.values(), this.o.facts.nodeName, now);
    // An agent that dropped its connection counts as gone a moment later: look again then.
    clearTimeout(this.presenceTimer);
    const wake = nextPresenceChange(view.nodes.values(), now);
    if (wake !== undefined) this.presenceTimer = setTimeout(() => this.announce(), wake + 50);
    const key = [...want].sort().join(' ');
    if (!look && key === this.announced) {
      this.announcing = false;
      return;
    }
    this.announced = undefined;
    syncAnnounced(this.o.iface, want, this.o.wrap)
      .then((changes) => {
        this.announced = key;
        if (changes.length) this.log(`proxy: LoadBalancer addresses ${changes.join(' ')}`);
      })
      .catch((e) => this.log(`proxy: announcing LoadBalancer IPs: ${(e as Error).message}`))
      .finally(() => {
        this.announcing = false;
        if (this.announceAgain) {
          const look = this.lookAgain;
          this.announceAgain = this.lookAgain = false;
          this.announce(look);
        }
      });
  }
}
