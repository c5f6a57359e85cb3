// `skiff server`: wires store, allocators, API, PKI and the built-in control loops together.
import { createLog } from '../shared/log.ts';
import { mkdirSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { EmbeddedStore } from '../store/embedded.ts';
import { EtcdStore } from '../store/etcd.ts';
import type { Store } from '../store/store.ts';
import { ServiceAllocator } from '../allocator/service-allocator.ts';
import { Registry } from '../api/registry.ts';
import { ApiServer } from '../api/server.ts';
import { TokenAuth } from '../api/auth.ts';
import { Metrics } from '../api/metrics.ts';
import { RESOURCES } from '../api/resources.ts';
import { ensurePki } from '../pki/pki.ts';
import { kubeconfig, writeKubeconfig } from './kubeconfig.ts';
import { finalizeNamespaces } from '../controllers/namespace.ts';
import { startControllers, type ControllerManager } from '../controllers/manager.ts';
import { LeaderElector } from '../controllers/leader.ts';
import { PodCidrAllocator } from '../allocator/podcidr-allocator.ts';
import { LbAllocator } from '../allocator/lb-allocator.ts';
import { Compactor } from './compactor.ts';
import { ensureJoinToken } from './join.ts';
import { parseToken } from '../shared/join-token.ts';
import { bootstrapObjects } from './bootstrap.ts';
import { shareIdentity } from './identity.ts';
import { ImageStore } from '../images/store.ts';
import { ChannelServer } from '../channel/server.ts';

export interface ServerConfig {
  dataDir: string;
  bindAddress: string;
  securePort: number;
  advertiseAddress?: string;
  writeKubeconfig?: string;
  datastoreEndpoint?: string;
  datastoreCafile?: string;
  datastoreCertfile?: string;
  datastoreKeyfile?: string;
  /** The join token of the cluster whose identity the datastore holds (a second or third server). */
  token?: string;
  serviceCidr: string;
  clusterCidr: string;
  serviceNodePortRange: string;
  /** Keep store history at least this long before compacting (ms). */
  compactAfterMs?: number;
  /** Port of the agents' push channel (gRPC); default: secure port + 1 (0 picks one). */
  agentPort?: number;
  /** Run the controllers and the scheduler (default true). */
  controllers?: boolean;
  /** A node whose Lease is older than this is Ready=Unknown and tainted unreachable (s, default 40). */
  nodeMonitorGracePeriodSeconds?: number;
  /** How long pods that do not tolerate not-ready/unreachable stay on such a node (s, default 300). */
  defaultTolerationSeconds?: number;
  /** Addresses for LoadBalancer Services: CIDRs and a-b ranges, comma-separated (none: no allocation). */
  lbPool?: string;
  /** Node directory for local-path volumes (default /var/lib/skiff/local-path). */
  localPathRoot?: string;
  /** ClusterIP of the kube-dns Service (default: the 10th address of the service range, 10.96.0.10). */
  clusterDns?: string;
}

export const DEFAULTS = {
  dataDir: '/var/lib/skiff/server',
  bindAddress: '0.0.0.0',
  securePort: 6443,
  writeKubeconfig: '/etc/skiff/admin.kubeconfig',
  serviceCidr: '10.96.0.0/12',
  clusterCidr: '10.244.0.0/16',
  serviceNodePortRange: '30000-32767',
};

const res = (kind: string) => RESOURCES.find((r) => r.kind === kind)!;

function localAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) out.push(a.address);
  return out;
}

export interface RunningServer {
  api: ApiServer;
  registry: Registry;
  store: Store;
  url: string;
  adminToken: string;
  caCert: string;
  joinToken: string;
  channelPort: number;
  stop(): Promise<void>;
}

export async function startServer(cfg: ServerConfig): Promise<RunningServer> {
  mkdirSync(cfg.dataDir, { recursive: true, mode: 0o700 });
  const store: Store = cfg.datastoreEndpoint
    ? new EtcdStore({
        endpoints: cfg.datastoreEndpoint
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
        caFile: cfg.datastoreCafile,
        certFile: cfg.datastoreCertfile,
        keyFile: cfg.datastoreKeyfile,
      })
    : new EmbeddedStore(join(cfg.dataDir, 'db'));
  // On a shared datastore every server uses the cluster's one CA, join secret and admin token.
  const shared = cfg.datastoreEndpoint
    ? await shareIdentity(store, cfg.dataDir, cfg.token).catch(async (e) => {
        await store.close();
        throw e;
      })
    : null;
  const alloc = new ServiceAllocator(store, cfg.serviceCidr, cfg.serviceNodePortRange);
  const registry = new Registry(store, alloc);
  const kubernetesIP = alloc.ipAt(1);
  const addrs = localAddresses();
  const advertise =
    cfg.advertiseAddress ?? (cfg.bindAddress !== '0.0.0.0' ? cfg.bindAddress : (addrs[0] ?? '127.0.0.1'));
  const pki = await ensurePki(join(cfg.dataDir, 'tls'), {
    dns: [
      'localhost',
      hostname(),
      'kubernetes',
      'kubernetes.default',
      'kubernetes.default.svc',
      'kubernetes.default.svc.cluster.local',
    ],
    ips: [
      ...new Set([
        '127.0.0.1',
        kubernetesIP,
        advertise,
        ...addrs,
        ...(cfg.bindAddress !== '0.0.0.0' ? [cfg.bindAddress] : []),
      ]),
    ],
  });
  const auth = new TokenAuth(join(cfg.dataDir, 'tokens.csv'), shared?.nodeKey);
  const metrics = new Metrics();
  let ready = false;
  const joinToken = ensureJoinToken(cfg.dataDir, pki.caCert);
  const api = new ApiServer({
    registry,
    auth,
    metrics,
    tls: { cert: pki.serverCert, key: pki.serverKey },
    advertise: `${advertise}:${cfg.securePort}`,
    isReady: () => ready,
    images: new ImageStore(join(cfg.dataDir, 'registry')),
    join: { caPem: pki.caCert, secret: parseToken(joinToken).secret, nodeToken: (n) => auth.nodeToken(n) },
  });
  await api.listen(cfg.securePort, cfg.bindAddress);
  const port = (api.server.address() as { port: number }).port;
  const channel = new ChannelServer(registry, auth, { cert: pki.serverCert, key: pki.serverKey });
  const channelPort = await channel.listen(cfg.bindAddress, cfg.agentPort ?? (cfg.securePort ? cfg.securePort + 1 : 0));
  api.channelPort = channelPort;
  api.networkInfo = { clusterCidr: cfg.clusterCidr, serviceCidr: cfg.serviceCidr };
  api.tunnels = channel.tunnels;
  // The URL kubeconfigs and `skiff up`'s agent use: the advertised address when given (other hosts
  // must reach it), else the bound one, else loopback.
  const urlHost = cfg.advertiseAddress ?? (cfg.bindAddress === '0.0.0.0' ? '127.0.0.1' : cfg.bindAddress);
  const url = `https://${urlHost}:${port}`;
  if (cfg.writeKubeconfig) writeKubeconfig(cfg.writeKubeconfig, kubeconfig(url, pki.caCert, auth.adminToken()));

  await bootstrapObjects(registry, alloc, port, cfg.clusterDns ?? alloc.ipAt(10));
  ready = true;

  const compactor = new Compactor(store, cfg.compactAfterMs ?? 5 * 60_000);
  const log = createLog();
  const loops: NodeJS.Timeout[] = [];
  const every = (ms: number, fn: () => Promise<unknown>) => {
    let running = false;
    loops.push(
      setInterval(() => {
        if (running) return;
        running = true;
        fn()
          .catch((e) => log(`control loop: ${(e as Error).message}`, 'error'))
          .finally(() => {
            running = false;
          });
      }, ms),
    );
  };
  every(2_000, () => finalizeNamespaces(registry));
  // Controllers and the scheduler run on the one server that holds the leader Lease.
  let controllers: ControllerManager | null = null;
  // Ends with the leadership it was made for: controllers still starting then (lost, or the
  // server stopping) give up, and never run without a leader's lease.
  let leadership: AbortController | null = null;
  const stopControllers = () => {
    leadership?.abort();
    leadership = null;
    controllers?.stop();
    controllers = null;
  };
  const podCidrs = new PodCidrAllocator(store, cfg.clusterCidr);
  const lbPool = cfg.lbPool ? new LbAllocator(store, cfg.lbPool) : null;
  const elector =
    cfg.controllers === false
      ? null
      : new LeaderElector(
          registry,
          `${hostname()}_${port}_${randomUUID().slice(0, 8)}`,
          async () => {
            const mine = new AbortController();
            leadership = mine;
            const started = await startControllers(registry, {
              apiServer: { ip: advertise, port },
              podCidrs,
              lbPool,
              localPathRoot: cfg.localPathRoot ?? '/var/lib/skiff/local-path',
              nodeMonitorGracePeriodSeconds: cfg.nodeMonitorGracePeriodSeconds ?? 40,
              defaultTolerationSeconds: cfg.defaultTolerationSeconds ?? 300,
              log: (m) => log(m),
              signal: mine.signal,
            });
            if (mine.signal.aborted) started.stop();
            else controllers = started;
          },
          stopControllers,
          (m) => log(m),
        );
  elector?.start();
  every(60_000, () => compactor.tick());
  every(60_000, async () => {
    const svc = await registry.list(res('Service'), undefined, { labels: [], fields: [] });
    const ips = new Set<string>(),
      ports = new Set<number>();
    for (const s of svc.items) {
      if (s.spec?.clusterIP) ips.add(s.spec.clusterIP);
      for (const p of s.spec?.ports ?? []) if (p.nodePort) ports.add(p.nodePort);
      if (s.spec?.healthCheckNodePort) ports.add(s.spec.healthCheckNodePort);
    }
    await alloc.repair({ ips, ports });
  });

  return {
    api,
    registry,
    store,
    url,
    adminToken: auth.adminToken(),
    caCert: pki.caCert,
    joinToken,
    channelPort,
    async stop() {
      for (const l of loops) clearInterval(l);
      await elector?.stop();
      stopControllers();
      await channel.close();
      await api.close();
      await store.close();
    },
  };
}
