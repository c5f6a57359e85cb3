// `skiff agent`: joins the cluster, runs the node's containerd, registers the Node, renews its
// Lease every 10 s and keeps the Ready condition true only while containerd answers.
import { createLog, type Log } from '../controlplane/shared/log.ts';
import { cpus, release, totalmem } from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';
import { registryHosts, writeMirrors } from './images/mirror.ts';
import { ChannelClient } from './channel.ts';
import type { NetworkView } from './network/view.ts';
import { findUnderlay } from './overlay/kernel.ts';
import type { OffloadSetting } from './overlay/offload.ts';
import { Overlay, overlayMtu } from './overlay/overlay.ts';
import { kernelBefore } from './proxy/applier.ts';
import { ServiceProxy } from './proxy/proxy.ts';
import { MetricsRegistry } from './metrics.ts';
import type { Backend } from './overlay/render.ts';
import { Kubelet } from './kubelet/kubelet.ts';
import { EventRecorder, nodeRef } from './kubelet/events.ts';
import { ClusterDNS } from './dns/cluster-dns.ts';
import { IngressController } from './ingress/controller.ts';
import { TaskExitWatcher } from './containerd/events.ts';
import { LogRotator } from './kubelet/log-rotation.ts';
import { TunnelClient } from './tunnel.ts';
import { join } from 'node:path';
import { ApiClient, ApiStatusError } from './api.ts';
import { joinCluster } from './join.ts';
import { startRuntime, type NodeRuntime } from './runtime.ts';
import { renderConditions, renderNode, type NodeFacts } from './node-status.ts';
import { EGRESS_LISTING_FILE, SUBNET_FILE } from './host/paths.ts';
import type { Lease, Node, NodeCondition } from '../controlplane/shared/kube/index.ts';

export interface AgentConfig {
  server: string;
  token: string;
  nodeName: string;
  nodeIp?: string;
  dataDir: string;
  podCidr?: string;
  endpoint?: string;
  imageCache: string;
  /** Overlay MTU; default: the underlay interface's minus the backend's overhead. */
  mtu?: number;
  leaseSeconds?: number;
  /** The ingress listeners' ports on the node IP (0 turns the ingress controller off). */
  ingressHttpPort?: number;
  ingressHttpsPort?: number;
  ingressMetricsPort?: number;
  /** The underlay interface (instead of, or to check, --node-ip). */
  iface?: string;
  backend?: Backend;
  /** VXLAN tx checksum offload: auto (off before kernel 5.7), on or off. */
  vxlanTxOffload?: OffloadSetting;
  /** Tables the service proxy spreads Services over (docs/proxy.md). */
  proxyShards?: number;
  /** Where subnet.env goes (/run/skiff on a host; the node's own directory in a sandbox). */
  runDir?: string;
  /** Cluster DNS: the address answered on this node, the domain, --dns-upstream, the TTL. */
  dns?: { address?: string; domain?: string; upstreams?: string; ttl?: number };
  /** host:port of the agent's /metrics (default 127.0.0.1:10249; empty: none). */
  metricsAddress?: string;
}

const microTime = () =>
  new Date()
    .toISOString()
    .replace('Z', '000Z')
    .replace(/\.(\d{3})000Z$/, '.$1000Z');
const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const read = (f: string, d = '') => {
  try {
    return readFileSync(f, 'utf8').trim();
  } catch {
    return d;
  }
};

function osImage(): string {
  const m = read('/etc/os-release').match(/^PRETTY_NAME="?([^"\n]*)"?/m);
  return m ? m[1] : 'Linux';
}

/** Without --pod-cidr the node registers bare and waits for the control plane to give it a subnet. */
async function leasePodCidr(api: ApiClient, name: string, log: Log): Promise<string> {
  const path = `/api/v1/nodes/${name}`;
  try {
    await api.get(path);
  } catch (e) {
    if (!(e instanceof ApiStatusError && e.code === 404)) throw e;
    await api
      .create('/api/v1/nodes', {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name,
          labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' },
        },
      })
      .catch((e2) => {
        if (!(e2 instanceof ApiStatusError && e2.code === 409)) throw e2;
      });
  }
  for (let i = 0; ; i++) {
    const node = await api.get<Node>(path);
    if (node.spec?.podCIDR) {
      log(`pod subnet ${node.spec.podCIDR} from the control plane`);
      return node.spec.podCIDR;
    }
    if (i === 120) throw new Error('the control plane gave this node no pod subnet within 60 s');
    await new Promise((r) => setTimeout(r, 500));
  }
}

export async function runAgent(
  cfg: AgentConfig,
  log: Log = createLog(),
): Promise<{ stop(): Promise<void>; runtime: NodeRuntime; api: ApiClient; network: NetworkView }> {
  const creds = await joinCluster(cfg.server, cfg.token, cfg.nodeName, cfg.dataDir);
  const api = new ApiClient(creds.server, creds.ca, creds.token, log);
  log(`joined ${creds.server} as ${cfg.nodeName}; API server in use: ${api.server}`);
  const podCidr = cfg.podCidr ?? (await leasePodCidr(api, cfg.nodeName, log));
  // The overlay's interface, never guessed: --node-ip, --iface, or the one unambiguous candidate.
  const underlay = await findUnderlay({ nodeIp: cfg.nodeIp, iface: cfg.iface });
  const backend = cfg.backend ?? 'vxlan';
  const mtu = overlayMtu(backend, underlay.mtu, cfg.mtu);
  const subnetFile = join(cfg.runDir ?? '/run/skiff', SUBNET_FILE);
  const runtime = await startRuntime({
    dataDir: cfg.dataDir,
    podCidr,
    mtu,
    subnetFile,
    imageCache: cfg.imageCache,
    endpoint: cfg.endpoint,
    log,
  });
  const version = await runtime.cri.version();
  const facts: NodeFacts = {
    name: cfg.nodeName,
    ip: underlay.ip,
    hostname: cfg.nodeName,
    cpus: cpus().length,
    memoryBytes: totalmem(),
    maxPods: 110,
    podCidr,
    kernelVersion: release(),
    osImage: osImage(),
    machineID: read('/etc/machine-id', cfg.nodeName),
    bootID: read('/proc/sys/kernel/random/boot_id'),
    runtimeVersion: `${version.runtime_name}://${version.runtime_version}`,
    runtimeReady: false,
    networkReady: false,
    runtimeMessage: '',
  };
  const nodePath = `/api/v1/nodes/${cfg.nodeName}`;
  let conditions: NodeCondition[] = [];

  const probe = async () => {
    try {
      const st = await runtime.cri.status();
      const c = Object.fromEntries((st.status?.conditions ?? []).map((x) => [x.type, x]));
      facts.runtimeReady = !!c.RuntimeReady?.status;
      facts.networkReady = !!c.NetworkReady?.status;
      facts.runtimeMessage = [c.RuntimeReady, c.NetworkReady]
        .filter((x) => x && !x.status)
        .map((x) => `${x.type}=false reason:${x.reason} message:${x.message}`)
        .join('; ');
    } catch (e) {
      facts.runtimeReady = false;
      facts.networkReady = false;
      facts.runtimeMessage = `container runtime is down: ${(e as Error).message}`;
    }
  };

  let uid = '';
  const pushStatus = async () => {
    conditions = renderConditions(facts, conditions, now());
    const node = renderNode(facts, conditions);
    try {
      const cur = await api.mergePatch<Node>(`${nodePath}/status`, { status: node.status });
      uid = cur.metadata.uid ?? '';
    } catch (e) {
      if (!(e instanceof ApiStatusError && e.code === 404)) throw e;
      const created = await api.create<Node>('/api/v1/nodes', node);
      uid = created.metadata.uid ?? '';
      await api.mergePatch(`${nodePath}/status`, { status: node.status });
      log(`registered node ${cfg.nodeName}`);
    }
  };

  const leasePath = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${cfg.nodeName}`;
  const renewLease = async () => {
    try {
      await api.mergePatch(leasePath, { spec: { holderIdentity: cfg.nodeName, renewTime: microTime() } });
    } catch (e) {
      if (!(e instanceof ApiStatusError && e.code === 404)) throw e;
      await api.create('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: {
          name: cfg.nodeName,
          ownerReferences: uid ? [{ apiVersion: 'v1', kind: 'Node', name: cfg.nodeName, uid }] : [],
        },
        spec: { holderIdentity: cfg.nodeName, leaseDurationSeconds: 40, renewTime: microTime() },
      } satisfies Lease);
    }
  };

  // Imported images come from the server's registry.
  const caFile = join(cfg.dataDir, 'ca.crt');
  writeFileSync(caFile, creds.ca);
  const certsDir = join(cfg.dataDir, 'containerd', 'certs.d');
  const syncMirrors = async () => {
    const list = await api.get<{ images: { name: string }[] }>('/skiff/v1/images');
    writeMirrors(certsDir, registryHosts(list.images.map((i) => i.name)), api.server, caFile, creds.token);
  };
  await syncMirrors().catch((e) => log(`registry mirrors: ${(e as Error).message}`, 'warn'));

  await probe();
  await pushStatus();
  await renewLease();
  // The node's own events, as upstream's kubelet writes them at start and on each Ready change.
  const events = new EventRecorder(api, cfg.nodeName, log);
  const nodeEvent = (ready: boolean) =>
    events.record(
      nodeRef(cfg.nodeName),
      'Normal',
      ready ? 'NodeReady' : 'NodeNotReady',
      `Node ${cfg.nodeName} status is now: ${ready ? 'NodeReady' : 'NodeNotReady'}`,
    );
  events.record(nodeRef(cfg.nodeName), 'Normal', 'Starting', 'Starting kubelet.');
  if (facts.runtimeReady && facts.networkReady) nodeEvent(true);
  const timers: NodeJS.Timeout[] = [];
  const every = (ms: number, what: string, fn: () => Promise<void>) => {
    let busy = false;
    timers.push(
      setInterval(() => {
        if (busy) return;
        busy = true;
        fn()
          .catch((e) => log(`${what}: ${(e as Error).message}`, 'warn'))
          .finally(() => {
            busy = false;
          });
      }, ms),
    );
  };
  let lastReady = facts.runtimeReady && facts.networkReady;
  let lastPush = Date.now();
  every(2_000, 'runtime probe', async () => {
    await probe();
    const ready = facts.runtimeReady && facts.networkReady;
    if (ready !== lastReady || Date.now() - lastPush > 60_000) {
      if (ready !== lastReady) {
        log(`node ${ready ? 'Ready' : 'NotReady'}${ready ? '' : ': ' + facts.runtimeMessage}`, ready ? 'info' : 'warn');
        nodeEvent(ready);
      }
      lastReady = ready;
      lastPush = Date.now();
      await pushStatus();
    }
  });
  every((cfg.leaseSeconds ?? 10) * 1000, 'lease', async () => {
    await renewLease();
    // The node controller marks a node whose lease went stale Ready=Unknown; say otherwise at once.
    const node = await api.get<Node>(nodePath);
    const ready = (node.status?.conditions ?? []).find((c) => c.type === 'Ready')?.status;
    if (ready !== (facts.runtimeReady && facts.networkReady ? 'True' : 'False')) await pushStatus();
  });

  // Desired pods arrive on the push channel; the kubelet makes the runtime match them.
  const info = await api.get<{ channelPort: number; clusterCidr?: string; serviceCidr?: string }>('/skiff/v1/info');
  // Every server's channel, comma-separated: the clients move to the next when one fails.
  const channelTarget = api.servers.map((s) => `${new URL(s).hostname}:${info.channelPort}`).join(',');
  const channel = new ChannelClient(channelTarget, creds.ca, creds.token, cfg.nodeName, log);
  channel.start();
  const overlay = new Overlay({
    view: channel.network,
    api,
    nodeName: cfg.nodeName,
    underlay,
    podCidr,
    clusterCidr: info.clusterCidr ?? '10.244.0.0/16',
    backend,
    mtu,
    subnetFile,
    egressListingFile: join(cfg.runDir ?? '/run/skiff', EGRESS_LISTING_FILE),
    log,
    txOffload: cfg.vxlanTxOffload,
  });
  overlay.start();
  const metrics = new MetricsRegistry();
  const proxy = new ServiceProxy({
    view: channel.network,
    facts: {
      nodeName: cfg.nodeName,
      nodeIPs: [underlay.ip],
      podCIDR: podCidr,
      clusterCIDR: info.clusterCidr ?? '10.244.0.0/16',
      serviceCIDR: info.serviceCidr ?? '10.96.0.0/12',
      clusterDNS: cfg.dns?.address ?? '10.96.0.10',
      mapKeyLookup: !kernelBefore(6, 5),
    },
    iface: underlay.iface,
    metrics,
    log,
    shards: cfg.proxyShards,
  });
  proxy.start();
  const dnsAddress = cfg.dns?.address ?? '10.96.0.10',
    dnsDomain = cfg.dns?.domain ?? 'cluster.local';
  const dns = new ClusterDNS({
    view: channel.network,
    address: dnsAddress,
    domain: dnsDomain,
    ttl: cfg.dns?.ttl ?? 5,
    upstreams: cfg.dns?.upstreams,
    metrics,
    log,
  });
  dns.start().catch((e) => log(`cluster DNS: ${(e as Error).message}`, 'error'));
  const metricsAddress = cfg.metricsAddress ?? '127.0.0.1:10249';
  const [metricsHost, metricsPort] = metricsAddress.split(/:(?=\d+$)/);
  const metricsServer = metricsAddress
    ? await metrics.serve(Number(metricsPort), metricsHost).catch((e) => {
        log(`metrics on ${metricsAddress}: ${(e as Error).message}`, 'error');
        return null;
      })
    : null;
  const kubelet = new Kubelet({
    clusterDNS: dnsAddress,
    clusterDomain: dnsDomain,
    nodeName: cfg.nodeName,
    nodeIP: facts.ip,
    dataDir: cfg.dataDir,
    cri: runtime.cri,
    api,
    state: channel.state,
    events,
    log,
  });
  kubelet.start();
  // A container's main task ending wakes the kubelet at once (exec'd processes are ignored).
  const exits = new TaskExitWatcher(
    runtime.socket,
    (e) => {
      if (e.execId && e.execId !== e.containerId) return;
      log(`container ${e.containerId.slice(0, 12)} exited with status ${e.exitStatus}`);
      kubelet.kick();
    },
    log,
  );
  exits.start();
  const rotator = new LogRotator(runtime.cri, log);
  rotator.start();
  const tunnel = new TunnelClient(channelTarget, creds.ca, {
    node: cfg.nodeName,
    token: creds.token,
    logRoot: join(cfg.dataDir, 'pods-logs'),
    cri: runtime.cri,
    log,
  });
  tunnel.start();
  const ingress =
    cfg.ingressHttpPort === 0
      ? null
      : new IngressController({
          view: channel.network,
          address: facts.ip,
          httpPort: cfg.ingressHttpPort ?? 80,
          httpsPort: cfg.ingressHttpsPort ?? 443,
          metricsPort: cfg.ingressMetricsPort ?? 10254,
          dataDir: cfg.dataDir,
          nodeName: cfg.nodeName,
          api,
          log,
        });
  await ingress?.start().catch((e) => log(`ingress: not started: ${(e as Error).message}`, 'error'));
  every(15_000, 'registry mirrors', syncMirrors);
  return {
    runtime,
    api,
    network: channel.network,
    async stop() {
      for (const t of timers) clearInterval(t);
      kubelet.stop();
      overlay.stop();
      proxy.stop();
      await dns.stop();
      metricsServer?.close();
      exits.stop();
      rotator.stop();
      channel.stop();
      tunnel.stop();
      await ingress?.stop();
      await runtime.stop();
      api.close();
    },
  };
}
