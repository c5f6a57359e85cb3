// The overlay reconciler: whenever the network view's Nodes change (and every 30 s against
// drift) it renders the desired kernel state, reads what is there, and applies only the
// difference. It publishes this node's VTEP MAC and address as Node annotations, keeps the
// egress table, and writes subnet.env once the node's overlay is programmed (the CNI plugin's
// STATUS is "not ready" until then).
import { createHash } from 'node:crypto';
import type { Log } from '../../controlplane/shared/log.ts';
import { release } from 'node:os';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { execa } from 'execa';
import type { ApiClient } from '../api.ts';
import type { NetworkView } from '../network/view.ts';
import { ensureBridgeNetfilter } from './bridge-netfilter.ts';
import {
  applyEgress,
  egressDigest,
  kernelEgressListing,
  readEgressListing,
  renderEgress,
  saveEgressListing,
} from './egress.ts';
import { type ActualNet, assumeApplied, diffOverlay } from './diff.ts';
import { applyPlan, openSessions, readOverlay, type Sessions, type Underlay, type Wrap } from './kernel.ts';
import { ensureTxOffload, type OffloadSetting, txOffloadWanted } from './offload.ts';
import {
  BACKEND_ANNOTATION,
  type Backend,
  PUBLIC_IP_ANNOTATION,
  subnetProblem,
  renderOverlay,
  VTEP_MAC_ANNOTATION,
  VXLAN_DEV,
  vtepMacFor,
} from './render.ts';

export interface OverlayOptions {
  view: NetworkView;
  api: Pick<ApiClient, 'mergePatch'>;
  nodeName: string;
  underlay: Underlay;
  podCidr: string;
  clusterCidr: string;
  backend: Backend;
  mtu: number;
  subnetFile: string;
  /** Where the egress table's listing after each write is kept, for the next agent on this host. */
  egressListingFile: string;
  log: Log;
  wrap?: Wrap;
  /** VXLAN tx checksum offload: auto (off before kernel 5.7), on or off. */
  txOffload?: OffloadSetting;
}

/** The overlay MTU: --mtu, else the underlay's minus VXLAN's 50 bytes of headers. */
export function overlayMtu(backend: Backend, underlayMtu: number, flag?: number): number {
  return flag ?? (backend === 'vxlan' ? underlayMtu - 50 : underlayMtu);
}

/** subnet.env, in the shape flannel's file has (network, subnet, MTU, ipmasq). Pure. */
export function renderSubnetEnv(o: { clusterCidr: string; podCidr: string; mtu: number; backend: Backend }): string {
  const [base, bits] = o.podCidr.split('/');
  const gw = base.replace(/\.\d+$/, (m) => `.${Number(m.slice(1)) + 1}`);
  return [
    `SKIFF_NETWORK=${o.clusterCidr}`,
    `SKIFF_SUBNET=${gw}/${bits}`,
    `SKIFF_MTU=${o.mtu}`,
    'SKIFF_IPMASQ=true',
    `SKIFF_BACKEND=${o.backend}`,
    '',
  ].join('\n');
}

export class Overlay {
  private o: OverlayOptions;
  private running = false;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private lastErrors = '';
  /** The egress script believed in the kernel, and the kernel's listing of it ('' when not read). */
  private lastEgress = '';
  private egressListing = '';
  /** Set by the 30 s timer: the next pass reads the kernel. */
  private resyncDue = false;
  private programmed = false;
  /** Long-lived `ip`/`bridge` batch processes the passes write to. */
  private sessions: Sessions | null = null;
  /** The kernel's state after the last clean pass; null makes the next pass read the kernel. */
  private known: ActualNet | null = null;
  /** When the first Node change not yet handled arrived (for the log's latency figure). */
  private changedAt = 0;
  readonly vtepMac: string;
  constructor(o: OverlayOptions) {
    this.o = o;
    this.vtepMac = vtepMacFor(o.nodeName, (s) => createHash('sha256').update(s).digest());
  }

  start() {
    const { underlay, backend, mtu } = this.o;
    this.o.log(`overlay: ${backend} over ${underlay.iface} (${underlay.ip}, ${underlay.cidr}), MTU ${mtu}`);
    // Peers program only subnets inside the cluster network (render.ts peerProblem): say so here too.
    const own = subnetProblem(this.o.podCidr, this.o.clusterCidr);
    if (own) this.o.log(`overlay: this node's ${own}: other nodes will not route to its pods`, 'warn');
    this.unsubscribe = this.o.view.subscribe((changes) => {
      if (!changes.some((c) => c.kind === 'nodes')) return;
      this.changedAt ||= performance.now();
      this.kick();
    });
    this.timer = setInterval(() => {
      // The resync reads the kernel, so drift (a route deleted by hand) is repaired. A flag the
      // next pass takes, not `known = null` here: a pass in progress would set its model after it.
      this.resyncDue = true;
      this.kick();
    }, 30_000);
    this.kick();
  }

  stop() {
    this.closeSessions();
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
  }

  private closeSessions() {
    this.sessions?.ip.close();
    this.sessions?.bridge.close();
    this.sessions = null;
  }

  /** Runs a pass now, or right after the one in progress. */
  kick() {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.reconcile()
      .catch((e) => {
        // A failed pass (kernel or API) is tried again soon, not only at the next resync.
        this.known = null;
        // New batch processes too: a device made anew behind their back leaves them a stale index.
        this.closeSessions();
        this.o.log(`overlay: ${(e as Error).message}; retrying in 2 s`, 'warn');
        setTimeout(() => this.kick(), 2_000).unref();
      })
      .finally(() => {
        this.running = false;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async reconcile() {
    const { view, nodeName, underlay, backend, wrap = [] } = this.o;
    // First and on its own: a pass that fails later (a bad peer, the API) must not keep it undone.
    // Not awaited: its checks are synchronous file reads, and only a modprobe (once) waits. Awaiting
    // would yield before the render, so the view's other subscribers' work on the same change
    // (~20 ms) would run first and delay every route and FDB change by that much.
    const settled = this.kernelSettings().catch((e) =>
      this.o.log(`overlay: kernel settings: ${(e as Error).message}`, 'warn'),
    );
    if (!view.synced) return;
    const since = this.changedAt;
    this.changedAt = 0;
    const began = performance.now();
    const self = view.nodes.get(nodeName);
    if (self?.spec?.podCIDR && self.spec.podCIDR !== this.o.podCidr)
      this.o.log(
        `overlay: Node ${nodeName} has podCIDR ${self.spec.podCIDR} but this agent runs ${this.o.podCidr}`,
        'warn',
      );
    const want = renderOverlay(
      {
        name: nodeName,
        podCidr: this.o.podCidr,
        clusterCidr: this.o.clusterCidr,
        nodeIp: underlay.ip,
        iface: underlay.iface,
        ifaceCidr: underlay.cidr,
        mtu: this.o.mtu,
        vtepMac: this.vtepMac,
      },
      backend,
      view.nodes.values(),
    );
    const errs = want.errors.join('; ');
    if (errs !== this.lastErrors && errs) this.o.log(`overlay: ${errs}`, 'warn');
    this.lastErrors = errs;
    if (this.resyncDue) {
      this.resyncDue = false;
      this.known = null;
    }
    // A pass without a model of the kernel (the first, a resync, after a failure) reads it all.
    const reads = this.known === null;
    const have = this.known ?? (await readOverlay(wrap));
    this.known = null;
    const plan = diffOverlay(want, have);
    if (plan.ip.length || plan.bridge.length) {
      const applying = performance.now();
      this.sessions ??= openSessions(wrap);
      const failed = await applyPlan(plan, wrap, this.sessions);
      const now = performance.now();
      // Where the time went: waiting for the pass to start, rendering and reading, the kernel.
      const took = since
        ? ` ${(now - since).toFixed(1)} ms after the view changed (started after ${(began - since).toFixed(1)}, ` +
          `applied in ${(now - applying).toFixed(1)})`
        : '';
      this.o.log(
        `overlay: applied ${plan.ip.length + plan.bridge.length} ` +
          `change(s)${took}${failed.length ? `; ${failed.join('; ')}` : ''}`,
      );
      if (failed.length) throw new Error('some changes failed (see above)');
    }
    this.known = assumeApplied(want);
    if (want.vxlan) await this.checkVxlanTraps();
    const nodeIps = want.peers.map((p) => p.nodeIp);
    const egress = renderEgress({
      podCidr: this.o.podCidr,
      clusterCidr: this.o.clusterCidr,
      nodeIps: [underlay.ip, ...nodeIps],
    });
    // A pass that reads the kernel compares the table with the listing taken after it was written,
    // so a table removed, replaced or edited inside behind the agent's back is written again. A
    // restarted agent reads that listing back from the run dir, so an edit made while no agent
    // ran is seen too; with no saved listing (a first start) it writes the table.
    if (reads || !this.lastEgress) {
      const listing = await kernelEgressListing(wrap);
      this.egressListing ||= readEgressListing(this.o.egressListingFile);
      const intact = listing !== '' && listing === this.egressListing;
      this.lastEgress = intact && egressDigest(listing) === egressDigest(egress) ? egress : '';
    }
    if (egress !== this.lastEgress) {
      await applyEgress(egress, wrap);
      // One more nft process per rewrite (the set of nodes changed), after the routes are in. A
      // listing that is not of the table just written (a failed read) is not kept: the next pass
      // writes the table again.
      const listing = await kernelEgressListing(wrap);
      const kept = egressDigest(listing) === egressDigest(egress);
      [this.lastEgress, this.egressListing] = kept ? [egress, listing] : ['', ''];
      saveEgressListing(this.o.egressListingFile, this.egressListing, this.o.log);
    }
    await this.publish(self?.metadata.annotations ?? {});
    if (!this.programmed) {
      // Pods start once subnet.env is there: br_netfilter (a first modprobe) must be on by then.
      await settled;
      this.writeSubnetEnv();
      this.programmed = true;
      this.o.log(`overlay: programmed (${this.o.subnetFile})`);
    }
  }

  /** The node's own annotations, which peers render from; patched only when they differ. */
  private async publish(have: Record<string, string>) {
    const want: Record<string, string> = {
      [PUBLIC_IP_ANNOTATION]: this.o.underlay.ip,
      [BACKEND_ANNOTATION]: this.o.backend,
      ...(this.o.backend === 'vxlan' ? { [VTEP_MAC_ANNOTATION]: this.vtepMac } : {}),
    };
    if (Object.entries(want).every(([k, v]) => have[k] === v)) return;
    await this.o.api.mergePatch(`/api/v1/nodes/${this.o.nodeName}`, { metadata: { annotations: want } });
  }

  private writeSubnetEnv() {
    const f = this.o.subnetFile;
    const text = renderSubnetEnv(this.o);
    mkdirSync(dirname(f), { recursive: true });
    let cur = '';
    try {
      cur = readFileSync(f, 'utf8');
    } catch {
      /* first run */
    }
    if (cur === text) return;
    writeFileSync(`${f}.tmp`, text);
    renameSync(`${f}.tmp`, f);
  }

  private readonly modprobeState = { tried: false };
  /** Namespaced settings pods depend on, checked every pass (a resync puts back what was changed). */
  private async kernelSettings() {
    if (this.o.wrap?.length) return;
    this.setSysctl('net/ipv4/ip_forward', '1');
    await ensureBridgeNetfilter(
      {
        read: (k) => this.readSysctl(k),
        set: (k, v) => this.setSysctl(k, v),
        modprobe: async (m) => (await execa('modprobe', [m], { reject: false, timeout: 10_000 })).exitCode === 0,
        log: this.o.log,
      },
      this.modprobeState,
    );
  }

  private trapsChecked = false;
  /**
   * Known VXLAN traps: tx checksum offload (see offload.ts for when it is turned off); rp_filter
   * strict mode on the device would drop the peers' replies.
   */
  private async checkVxlanTraps() {
    if (this.trapsChecked) return;
    this.trapsChecked = true;
    const on = txOffloadWanted(this.o.txOffload ?? 'auto', release());
    await ensureTxOffload(VXLAN_DEV, on, this.o.wrap ?? [], this.o.log);
    for (const dev of ['all', VXLAN_DEV]) {
      const key = `net/ipv4/conf/${dev}/rp_filter`;
      if (this.readSysctl(key) === '1') this.setSysctl(key, '2');
    }
  }

  private readSysctl(key: string): string {
    try {
      return readFileSync(`/proc/sys/${key}`, 'utf8').trim();
    } catch {
      return '';
    }
  }

  /** Namespaced sysctls: /proc/sys/net follows the writer's network namespace (the node's). */
  private setSysctl(key: string, value: string) {
    if (this.o.wrap?.length) return;
    if (this.readSysctl(key) === value) return;
    try {
      writeFileSync(`/proc/sys/${key}`, value);
      this.o.log(`overlay: set ${key.replaceAll('/', '.')}=${value}`);
    } catch (e) {
      this.o.log(`overlay: cannot set ${key.replaceAll('/', '.')}: ${(e as Error).message}`, 'warn');
    }
  }
}
