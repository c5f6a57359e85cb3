// The controllers and the scheduler that run inside `skiff server`, over shared caches.
import type { Registry } from '../api/registry.ts';
import { RESOURCES } from '../api/resources.ts';
import { Informer } from './informer.ts';
import { ReplicaSetController } from './replicaset.ts';
import { DeploymentController } from './deployment.ts';
import { EndpointsController } from './endpoints.ts';
import { EndpointsMirroringController } from './endpoints-mirroring.ts';
import { GarbageCollector } from './garbage-collector.ts';
import { startServiceAccounts } from './service-accounts.ts';
import { DaemonSetController } from './daemonset.ts';
import { JobController } from './job.ts';
import { CronJobController } from './cronjob.ts';
import { Scheduler } from '../scheduler/scheduler.ts';
import { NodeLifecycleController } from './node-lifecycle.ts';
import type { PodCidrAllocator } from '../allocator/podcidr-allocator.ts';
import type { LbAllocator } from '../allocator/lb-allocator.ts';
import { LoadBalancerController } from './loadbalancer.ts';
import { IngressStatusController } from './ingress-status.ts';
import { StatefulSetController } from './statefulset.ts';
import { DisruptionController } from './disruption.ts';
import { LocalPathProvisioner, claimNode } from './local-path.ts';
import type {
  EndpointSlice,
  KubeObject,
  Node,
  Obj,
  PersistentVolume,
  PersistentVolumeClaim,
  Pod,
  Service,
  Stored,
} from '../shared/kube/index.ts';

export interface ControllerManager {
  stop(): void;
}

export interface ControllerOptions {
  apiServer: { ip: string; port: number };
  podCidrs: PodCidrAllocator;
  /** Where the local-path provisioner puts volumes on nodes. */
  localPathRoot: string;
  lbPool: LbAllocator | null;
  nodeMonitorGracePeriodSeconds: number;
  defaultTolerationSeconds: number;
  log: (s: string) => void;
  /** Aborted when the leadership ends: a start not yet done stops all it started and fails. */
  signal?: AbortSignal;
}

export async function startControllers(reg: Registry, o: ControllerOptions): Promise<ControllerManager> {
  const informers = new Map<string, Informer>();
  const inf = <T extends KubeObject | Obj = Obj>(kind: string): Informer<T> => {
    let i = informers.get(kind);
    if (!i) informers.set(kind, (i = new Informer(reg, RESOURCES.find((r) => r.kind === kind)!)));
    return i as unknown as Informer<T>; // one cache per kind, typed by the caller that names the kind
  };
  const kinds = [
    'Pod',
    'Node',
    'Namespace',
    'ServiceAccount',
    'Service',
    'EndpointSlice',
    'Endpoints',
    'ReplicaSet',
    'ReplicationController',
    'Deployment',
    'DaemonSet',
    'StatefulSet',
    'Job',
    'CronJob',
    'PersistentVolumeClaim',
    'PersistentVolume',
    'ControllerRevision',
    'Lease',
    'PodDisruptionBudget',
    'Ingress',
    'IngressClass',
  ];
  for (const k of kinds) if (RESOURCES.some((r) => r.kind === k)) inf(k);
  // The one way out, whether the start completed, failed or was abandoned halfway: every part
  // made so far stops (each stops safely whether or not it started), then the caches.
  const parts: { stop(): void }[] = [];
  const stop = () => {
    for (const p of parts) p.stop();
    for (const i of informers.values()) i.stop();
  };
  for (const i of informers.values()) i.start();
  await new Promise<void>((ready, fail) => {
    const abandon = () => {
      stop();
      fail(new Error('the leadership ended before the controllers started'));
    };
    if (o.signal?.aborted) return abandon();
    o.signal?.addEventListener('abort', abandon, { once: true });
    void Promise.all([...informers.values()].map((i) => i.ready)).then(() => {
      o.signal?.removeEventListener('abort', abandon);
      ready();
    });
  });

  const scheduler = new Scheduler(reg, inf('Pod'), inf('Node'), (s) => o.log(`scheduler: ${s}`));
  const rs = new ReplicaSetController(reg, 'ReplicaSet', inf('ReplicaSet'), inf('Pod'), o.log);
  const rc = new ReplicaSetController(reg, 'ReplicationController', inf('ReplicationController'), inf('Pod'), o.log);
  const deploy = new DeploymentController(reg, inf('Deployment'), inf('ReplicaSet'), o.log);
  const endpoints = new EndpointsController(
    reg,
    {
      services: inf<Service>('Service'),
      pods: inf<Pod>('Pod'),
      nodes: inf<Node>('Node'),
      slices: inf<EndpointSlice>('EndpointSlice'),
    },
    o.apiServer,
    o.log,
  );
  const mirroring = new EndpointsMirroringController(
    reg,
    { services: inf('Service'), endpoints: inf('Endpoints'), slices: inf('EndpointSlice') },
    o.log,
  );
  const ds = new DaemonSetController(reg, inf('DaemonSet'), inf('Pod'), inf('Node'), inf('ControllerRevision'), o.log);
  const job = new JobController(reg, inf('Job'), inf('Pod'), o.log);
  const cron = new CronJobController(reg, inf('CronJob'), inf('Job'), o.log);
  const nodes = new NodeLifecycleController(
    reg,
    { nodes: inf('Node'), pods: inf('Pod'), leases: inf('Lease') },
    o.podCidrs,
    { gracePeriodSeconds: o.nodeMonitorGracePeriodSeconds, defaultTolerationSeconds: o.defaultTolerationSeconds },
    o.log,
  );
  const sts = new StatefulSetController(
    reg,
    inf('StatefulSet'),
    inf('Pod'),
    inf('PersistentVolumeClaim'),
    inf('ControllerRevision'),
    o.log,
  );
  const storage = new LocalPathProvisioner(
    reg,
    { claims: inf('PersistentVolumeClaim'), volumes: inf('PersistentVolume'), pods: inf('Pod') },
    o.localPathRoot,
    o.log,
  );
  scheduler.volumeNode = (pod) => {
    for (const v of pod.spec?.volumes ?? []) {
      const claim =
        v.persistentVolumeClaim?.claimName &&
        inf<Stored<PersistentVolumeClaim>>('PersistentVolumeClaim').get(
          `${pod.metadata.namespace}/${v.persistentVolumeClaim.claimName}`,
        );
      const pvs = inf<Stored<PersistentVolume>>('PersistentVolume');
      const node = claim ? claimNode(claim, pvs.get(claim.spec.volumeName ?? '')) : undefined;
      if (node) return node;
    }
    return undefined;
  };
  const pdb = new DisruptionController(reg, inf('PodDisruptionBudget'), inf('Pod'), o.log);
  const lb = o.lbPool ? new LoadBalancerController(reg, inf('Service'), o.lbPool, o.log) : null;
  const ingressStatus = new IngressStatusController(reg, inf('Ingress'), inf('IngressClass'), inf('Node'), o.log);
  const gc = new GarbageCollector(
    reg,
    [...informers.values()].filter((i) => i.res.kind !== 'Namespace' && i.res.kind !== 'Node'),
    (s) => o.log(s),
  );
  const all = [scheduler, rs, rc, deploy, ds, sts, job, cron, endpoints, mirroring, nodes, pdb, ingressStatus, gc];
  parts.push(...all, storage);
  if (lb) parts.push(lb);
  try {
    for (const c of all) c.start();
    await storage.start();
    if (o.signal?.aborted) throw new Error('the leadership ended before the controllers started');
    lb?.start();
    startServiceAccounts(reg, inf('Namespace'), inf('ServiceAccount'), o.log);
  } catch (e) {
    stop();
    throw e;
  }
  return { stop };
}
