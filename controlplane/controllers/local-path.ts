// The built-in local-path provisioner: StorageClass `local-path` (the default; provisioner
// skiff.io/local-path, WaitForFirstConsumer). A claim of that class is provisioned once a pod
// that uses it has a node: a PersistentVolume backed by a directory on that node (hostPath,
// created by the kubelet), pinned there by node affinity, and bound to the claim. A released
// volume is deleted (reclaimPolicy Delete) by a short helper pod on its node that removes the
// directory, or kept as Released (Retain). planClaims is the pure part.
import type { Ctx, Registry } from '../api/registry.ts';
import { RESOURCES } from '../api/resources.ts';
import { ApiError } from '../api/status.ts';
import type { Informer } from './informer.ts';
import { ignoreGone } from './ownership.ts';
import { ctxFor } from './pod-owner.ts';
import { EventRecorder } from './events.ts';
import type {
  PersistentVolume,
  PersistentVolumeClaim,
  PersistentVolumeSpec,
  Pod,
  Stored,
} from '../shared/kube/index.ts';

const res = (k: string) => RESOURCES.find((r) => r.kind === k)!;
const PVCS = res('PersistentVolumeClaim'),
  PVS = res('PersistentVolume'),
  PODS = res('Pod'),
  CLASSES = res('StorageClass');
export const CLASS = 'local-path';
export const PROVISIONER = 'skiff.io/local-path';
export const DEFAULT_ROOT = '/var/lib/skiff/local-path';
const SELECTED = 'volume.kubernetes.io/selected-node';

export const storageClass = {
  apiVersion: 'storage.k8s.io/v1',
  kind: 'StorageClass',
  metadata: { name: CLASS, annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
  provisioner: PROVISIONER,
  reclaimPolicy: 'Delete' as const,
  volumeBindingMode: 'WaitForFirstConsumer',
};

/** The node a claim should be provisioned on: its selected-node annotation, else a scheduled pod using it. */
export function consumerNode(pvc: PersistentVolumeClaim, pods: Pod[]): string | undefined {
  const sel = pvc.metadata.annotations?.[SELECTED];
  if (sel) return sel;
  const user = pods.find(
    (p) =>
      p.metadata.namespace === pvc.metadata.namespace &&
      p.spec.nodeName &&
      !p.metadata.deletionTimestamp &&
      (p.spec.volumes ?? []).some((v) => v.persistentVolumeClaim?.claimName === pvc.metadata.name),
  );
  return user?.spec.nodeName;
}

export function volumeFor(
  pvc: Stored<PersistentVolumeClaim>,
  node: string,
  reclaimPolicy: PersistentVolumeSpec['persistentVolumeReclaimPolicy'],
  root = DEFAULT_ROOT,
): PersistentVolume {
  const name = `pvc-${pvc.metadata.uid}`;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: {
      name,
      annotations: { 'pv.kubernetes.io/provisioned-by': PROVISIONER },
      labels: { 'skiff.io/node': node },
    },
    spec: {
      capacity: { storage: pvc.spec.resources?.requests?.storage ?? '1Gi' },
      accessModes: pvc.spec.accessModes ?? ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: reclaimPolicy,
      storageClassName: CLASS,
      volumeMode: 'Filesystem',
      claimRef: {
        kind: 'PersistentVolumeClaim',
        apiVersion: 'v1',
        namespace: pvc.metadata.namespace,
        name: pvc.metadata.name,
        uid: pvc.metadata.uid,
      },
      hostPath: { path: `${root}/${name}_${pvc.metadata.namespace}_${pvc.metadata.name}`, type: 'DirectoryOrCreate' },
      nodeAffinity: {
        required: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] },
          ],
        },
      },
    },
  };
}

/** The node a bound claim's volume lives on (for the scheduler), if any. */
export function claimNode(
  pvc: Pick<PersistentVolumeClaim, 'spec'> | undefined,
  pv: PersistentVolume | undefined,
): string | undefined {
  if (!pvc?.spec.volumeName || !pv) return undefined;
  return pv.spec?.nodeAffinity?.required?.nodeSelectorTerms?.[0]?.matchExpressions?.find(
    (e) => e.key === 'kubernetes.io/hostname',
  )?.values?.[0];
}

export class LocalPathProvisioner {
  private reg: Registry;
  private claims: Informer<Stored<PersistentVolumeClaim>>;
  private volumes: Informer<Stored<PersistentVolume>>;
  private pods: Informer<Stored<Pod>>;
  private ctx: Ctx = ctxFor('persistent-volume-binder');
  private events: EventRecorder;
  private log: (s: string) => void;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private root: string;

  constructor(
    reg: Registry,
    inf: {
      claims: Informer<Stored<PersistentVolumeClaim>>;
      volumes: Informer<Stored<PersistentVolume>>;
      pods: Informer<Stored<Pod>>;
    },
    root: string,
    log: (s: string) => void,
  ) {
    this.reg = reg;
    this.root = root;
    this.claims = inf.claims;
    this.volumes = inf.volumes;
    this.pods = inf.pods;
    this.log = log;
    this.events = new EventRecorder(reg, 'persistentvolume-controller');
  }

  async start() {
    try {
      await this.reg.create(CLASSES, undefined, storageClass, this.ctx);
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 409)) throw e;
    }
    const soon = () => {
      void this.pass();
    };
    for (const i of [this.claims, this.volumes, this.pods]) i.onChange(soon);
    this.timer = setInterval(soon, 2000);
    soon();
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
  }

  private async pass() {
    if (this.busy) return;
    this.busy = true;
    try {
      await this.reconcile();
    } catch (e) {
      this.log(`local-path: ${(e as Error).message}`);
    } finally {
      this.busy = false;
    }
  }

  private async reconcile() {
    const pods = this.pods.list();
    for (const pvc of this.claims.list()) {
      if (pvc.metadata.deletionTimestamp) continue;
      const cls = pvc.spec.storageClassName;
      if (cls === undefined || cls === null) {
        // The default class, as the DefaultStorageClass admission sets it.
        await this.reg
          .patch(
            PVCS,
            pvc.metadata.namespace,
            pvc.metadata.name,
            'merge',
            { spec: { storageClassName: CLASS } },
            this.ctx,
          )
          .catch(ignoreGone);
        continue;
      }
      if (cls !== CLASS) continue;
      const pvName = `pvc-${pvc.metadata.uid}`;
      if (pvc.spec.volumeName && pvc.status?.phase === 'Bound') continue;
      let pv: PersistentVolume | undefined = this.volumes.get(pvName);
      if (!pv) {
        const node = consumerNode(pvc, pods);
        if (!node) continue; // WaitForFirstConsumer
        try {
          pv = (await this.reg.create(
            PVS,
            undefined,
            volumeFor(pvc, node, storageClass.reclaimPolicy, this.root),
            this.ctx,
          )) as PersistentVolume;
        } catch (e) {
          if (!(e instanceof ApiError && e.code === 409)) throw e;
          continue;
        }
        void this.events.record(
          pvc,
          'Normal',
          'ProvisioningSucceeded',
          `Successfully provisioned volume ${pvName} on node ${node}`,
        );
      }
      await this.reg
        .patch(PVS, undefined, pvName, 'merge', { status: { phase: 'Bound' } }, this.ctx, { sub: 'status' })
        .catch(ignoreGone);
      await this.reg
        .patch(PVCS, pvc.metadata.namespace, pvc.metadata.name, 'merge', { spec: { volumeName: pvName } }, this.ctx)
        .catch(ignoreGone);
      await this.reg
        .patch(
          PVCS,
          pvc.metadata.namespace,
          pvc.metadata.name,
          'merge',
          { status: { phase: 'Bound', accessModes: pv!.spec.accessModes, capacity: pv!.spec.capacity } },
          this.ctx,
          { sub: 'status' },
        )
        .catch(ignoreGone);
    }
    // Volumes whose claim is gone.
    for (const pv of this.volumes.list()) {
      if (pv.metadata.annotations?.['pv.kubernetes.io/provisioned-by'] !== PROVISIONER || !pv.spec?.claimRef) continue;
      const ref = pv.spec.claimRef;
      const claim = this.claims.get(`${ref.namespace}/${ref.name}`);
      if (claim && claim.metadata.uid === ref.uid) continue;
      if (pv.spec.persistentVolumeReclaimPolicy !== 'Delete') {
        if (pv.status?.phase !== 'Released')
          await this.reg
            .patch(PVS, undefined, pv.metadata.name, 'merge', { status: { phase: 'Released' } }, this.ctx, {
              sub: 'status',
            })
            .catch(ignoreGone);
        continue;
      }
      await this.cleanup(pv);
    }
  }

  /** Removes the volume's directory with a helper pod on its node, then the volume. */
  private async cleanup(pv: Stored<PersistentVolume>) {
    const node = claimNode({ spec: { volumeName: pv.metadata.name } }, pv);
    const helperName = `helper-${pv.metadata.name}`.slice(0, 63);
    const helper = this.pods.get(`kube-system/${helperName}`);
    const dir = pv.spec.hostPath?.path ?? '';
    const parent = dir.slice(0, dir.lastIndexOf('/'));
    if (!parent.startsWith('/')) {
      // Not a directory under a root we made (no hostPath, or one at /): never run rm -rf on it.
      this.log(`local-path: volume ${pv.metadata.name} has no directory under a root (${dir || 'no hostPath'}); kept`);
      return;
    }
    if (!helper) {
      await this.reg
        .create(
          PODS,
          'kube-system',
          {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name: helperName, namespace: 'kube-system', labels: { app: 'local-path-helper' } },
            spec: {
              nodeName: node,
              restartPolicy: 'Never',
              terminationGracePeriodSeconds: 1,
              tolerations: [{ operator: 'Exists' }],
              volumes: [{ name: 'root', hostPath: { path: parent, type: 'DirectoryOrCreate' } }],
              containers: [
                {
                  name: 'rm',
                  image: 'skiff.local/busybox:1.36',
                  command: ['rm', '-rf', `/root-dir/${dir.slice(parent.length + 1)}`],
                  volumeMounts: [{ name: 'root', mountPath: '/root-dir' }],
                },
              ],
            },
          },
          this.ctx,
        )
        .catch(ignoreGone);
      return;
    }
    if (helper.status?.phase === 'Succeeded') {
      await this.reg.delete(PVS, undefined, pv.metadata.name, {}, this.ctx).catch(ignoreGone);
      await this.reg.delete(PODS, 'kube-system', helperName, { gracePeriodSeconds: 0 }, this.ctx).catch(ignoreGone);
    } else if (helper.status?.phase === 'Failed') {
      await this.reg.delete(PODS, 'kube-system', helperName, { gracePeriodSeconds: 0 }, this.ctx).catch(ignoreGone);
    }
  }
}
