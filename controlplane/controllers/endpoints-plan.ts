// What a Service's endpoints should be, pure: its selected pods with an IP, the Service ports
// resolved per pod (named target ports through each pod's container ports), conditions
// ready/serving/terminating, nodeName, zone and targetRef; grouped by resolved port set into
// EndpointSlices of at most 100 endpoints, and into the legacy Endpoints subsets.
import { isReady, isTerminal } from './ownership.ts';
import type { Obj } from '../shared/kube/object.ts';

export const SERVICE_NAME = 'kubernetes.io/service-name';
export const MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';
export const CONTROLLER = 'endpointslice-controller.k8s.io';
export const MAX_PER_SLICE = 100;

export interface EndpointGroup {
  ports: Obj[];
  endpoints: Obj[];
}

export function selectsPod(svc: Obj, pod: Obj): boolean {
  const sel = svc.spec?.selector;
  if (!sel || !Object.keys(sel).length || pod.metadata.namespace !== svc.metadata.namespace) return false;
  return Object.entries(sel).every(([k, v]) => pod.metadata.labels?.[k] === v);
}

function resolvePort(svcPort: Obj, pod: Obj): number | null {
  const t = svcPort.targetPort ?? svcPort.port;
  if (typeof t === 'number') return t;
  if (/^\d+$/.test(String(t))) return Number(t);
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? [])
      if (p.name === t && (p.protocol ?? 'TCP') === (svcPort.protocol ?? 'TCP')) return p.containerPort;
  }
  return null;
}

/** Endpoints grouped by their resolved port list, sorted for stable output. */
export function endpointGroups(svc: Obj, pods: Obj[], nodes: Map<string, Obj>): EndpointGroup[] {
  const publish = !!svc.spec?.publishNotReadyAddresses;
  const groups = new Map<string, EndpointGroup>();
  const selected = pods
    .filter((p) => selectsPod(svc, p) && p.status?.podIP && !isTerminal(p))
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  for (const pod of selected) {
    const ports: Obj[] = [];
    let ok = true;
    for (const sp of svc.spec?.ports ?? []) {
      const port = resolvePort(sp, pod);
      if (port === null) {
        ok = false;
        break;
      }
      ports.push({
        name: sp.name ?? '',
        port,
        protocol: sp.protocol ?? 'TCP',
        ...(sp.appProtocol ? { appProtocol: sp.appProtocol } : {}),
      });
    }
    if (!ok) continue;
    const key = JSON.stringify(ports);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { ports, endpoints: [] }));
    const terminating = !!pod.metadata.deletionTimestamp;
    const ready = isReady(pod);
    const node = pod.spec?.nodeName ? nodes.get(pod.spec.nodeName) : undefined;
    const zone = node?.metadata?.labels?.['topology.kubernetes.io/zone'];
    g.endpoints.push({
      addresses: [pod.status.podIP],
      conditions: { ready: publish || (ready && !terminating), serving: publish || ready, terminating },
      // A pod's DNS name under a headless Service: its hostname, when its subdomain names this Service.
      ...(pod.spec?.hostname && pod.spec.subdomain === svc.metadata.name ? { hostname: pod.spec.hostname } : {}),
      ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
      ...(zone ? { zone } : {}),
      targetRef: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
    });
  }
  return [...groups.values()].sort((a, b) => JSON.stringify(a.ports).localeCompare(JSON.stringify(b.ports)));
}

/** Desired slices (name left to the caller), at most MAX_PER_SLICE endpoints each. */
export function desiredSlices(svc: Obj, groups: EndpointGroup[]): { ports: Obj[]; endpoints: Obj[] }[] {
  const out: { ports: Obj[]; endpoints: Obj[] }[] = [];
  for (const g of groups) {
    for (let i = 0; i < g.endpoints.length; i += MAX_PER_SLICE)
      out.push({ ports: g.ports, endpoints: g.endpoints.slice(i, i + MAX_PER_SLICE) });
  }
  // A Service with ports and no endpoints still has one (empty) slice, as Kubernetes keeps it.
  if (!out.length)
    out.push({
      ports: (svc.spec?.ports ?? [])
        .filter(
          (p: Obj) => typeof (p.targetPort ?? p.port) === 'number' || /^\d+$/.test(String(p.targetPort ?? p.port)),
        )
        .map((p: Obj) => ({ name: p.name ?? '', port: Number(p.targetPort ?? p.port), protocol: p.protocol ?? 'TCP' })),
      endpoints: [],
    });
  return out;
}

export interface SlicePlan {
  create: Obj[];
  update: Obj[];
  remove: string[];
}

/** Matches desired slices to existing ones (same ports, in order), changing only what differs. */
export function planSlices(svc: Obj, existing: Obj[], desired: { ports: Obj[]; endpoints: Obj[] }[]): SlicePlan {
  const plan: SlicePlan = { create: [], update: [], remove: [] };
  const pool = [...existing].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  const labels = { [SERVICE_NAME]: svc.metadata.name, [MANAGED_BY]: CONTROLLER };
  for (const want of desired) {
    const i = pool.findIndex((s) => JSON.stringify(s.ports ?? []) === JSON.stringify(want.ports));
    if (i >= 0) {
      const cur = pool.splice(i, 1)[0];
      const same =
        JSON.stringify(cur.endpoints ?? []) === JSON.stringify(want.endpoints) &&
        Object.entries(labels).every(([k, v]) => cur.metadata.labels?.[k] === v);
      if (!same)
        plan.update.push({
          ...cur,
          metadata: { ...cur.metadata, labels: { ...(cur.metadata.labels ?? {}), ...labels } },
          endpoints: want.endpoints,
          ports: want.ports,
        });
    } else {
      plan.create.push({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          generateName: `${svc.metadata.name}-`,
          namespace: svc.metadata.namespace,
          labels,
          ownerReferences: [
            {
              apiVersion: 'v1',
              kind: 'Service',
              name: svc.metadata.name,
              uid: svc.metadata.uid,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        addressType: 'IPv4',
        ports: want.ports,
        endpoints: want.endpoints,
      });
    }
  }
  plan.remove = pool.map((s) => s.metadata.name);
  return plan;
}

/** The legacy Endpoints object's subsets. */
export function endpointsSubsets(groups: EndpointGroup[]): Obj[] {
  return groups
    .filter((g) => g.endpoints.length)
    .map((g) => {
      const addr = (e: Obj) => ({
        ip: e.addresses[0],
        ...(e.nodeName ? { nodeName: e.nodeName } : {}),
        targetRef: e.targetRef,
      });
      const ready = g.endpoints.filter((e) => e.conditions.ready).map(addr);
      const notReady = g.endpoints.filter((e) => !e.conditions.ready).map(addr);
      return {
        ...(ready.length ? { addresses: ready } : {}),
        ...(notReady.length ? { notReadyAddresses: notReady } : {}),
        ports: g.ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), port: p.port, protocol: p.protocol })),
      };
    });
}
