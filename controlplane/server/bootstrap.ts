// The objects every cluster has (namespaces, the `kubernetes` Service), made at start-up by every
// API server. Several servers may start at the same moment on one etcd, so each step is
// idempotent: an object another server made is fine, and so is a ClusterIP that another server
// has claimed for the same Service and is about to write. A claim whose Service never appeared
// (a server that crashed between the two writes) is taken over after a grace period.
import type { ServiceAllocator } from '../allocator/service-allocator.ts';
import type { Registry, Ctx } from '../api/registry.ts';
import { RESOURCES } from '../api/resources.ts';
import { ApiError } from '../api/status.ts';
import { kubeDnsService } from './kube-dns.ts';
import type { IngressClass, KubeObject, Service } from '../shared/kube/index.ts';
import { DEFAULT_INGRESS_CLASS_ANNOTATION } from '../shared/kube/index.ts';
import { BUILTIN_INGRESS_CLASS, INGRESS_CONTROLLER } from '../shared/ingress-class.ts';

const bootCtx: Ctx = {
  user: 'system:apiserver',
  manager: 'skiff-apiserver',
  dryRun: false,
  fieldValidation: 'Strict',
  warnings: [],
};
const res = (kind: string) => RESOURCES.find((r) => r.kind === kind)!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long a claimed ClusterIP may stand without its Service before bootstrap takes it over. */
const CLAIM_GRACE_MS = 5_000;

async function exists(reg: Registry, kind: string, ns: string | undefined, name: string): Promise<boolean> {
  try {
    await reg.get(res(kind), ns, name);
    return true;
  } catch (e) {
    if (e instanceof ApiError && e.code === 404) return false;
    throw e;
  }
}

/** Creates obj unless it exists; waits out, or takes over, a ClusterIP claimed for the same Service. */
export async function ensureObject(
  reg: Registry,
  alloc: ServiceAllocator,
  kind: string,
  obj: KubeObject,
  deadlineMs = 30_000,
): Promise<void> {
  const { name = '', namespace } = obj.metadata;
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      await reg.create(res(kind), namespace, structuredClone(obj), bootCtx);
      return;
    } catch (e) {
      if (e instanceof ApiError && e.code === 409) return; // another server made it
      if (await exists(reg, kind, namespace, name)) return;
      const ip = kind === 'Service' ? (obj as Service).spec.clusterIP : undefined;
      const claimed = e instanceof ApiError && e.code === 422 && /already allocated/.test(e.message);
      if (!ip || !claimed || Date.now() > deadline) throw e;
      // Another server holds the IP for this very Service: it is writing it now, or it died.
      await alloc.reclaimIP(ip, `${namespace}/${name}`, CLAIM_GRACE_MS);
      await sleep(200);
    }
  }
}

/** Makes the built-in namespaces, the API's own Service and the cluster DNS Service. */
export async function bootstrapObjects(
  reg: Registry,
  alloc: ServiceAllocator,
  apiPort: number,
  clusterDns: string,
): Promise<void> {
  for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease'])
    await ensureObject(reg, alloc, 'Namespace', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  const kubernetes: Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'kubernetes',
      namespace: 'default',
      labels: { component: 'apiserver', provider: 'kubernetes' },
    },
    spec: {
      clusterIP: alloc.ipAt(1),
      ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: apiPort }],
    },
  };
  await ensureObject(reg, alloc, 'Service', kubernetes);
  await ensureObject(reg, alloc, 'Service', kubeDnsService(clusterDns));
  const ingressClass: IngressClass = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'IngressClass',
    metadata: { name: BUILTIN_INGRESS_CLASS, annotations: { [DEFAULT_INGRESS_CLASS_ANNOTATION]: 'true' } },
    spec: { controller: INGRESS_CONTROLLER },
  };
  await ensureObject(reg, alloc, 'IngressClass', ingressClass);
}
