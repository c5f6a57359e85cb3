// What a Service's endpoints should be, pure: its selected pods with an IP, the Service ports
// resolved per pod (named target ports through each pod's container ports), conditions
// ready/serving/terminating, nodeName, zone and targetRef; grouped by resolved port set into
// EndpointSlices of at most 100 endpoints, and into the legacy Endpoints subsets.
import { isReady, isTerminal } from './ownership.ts';
import type {
  Endpoint,
  EndpointPort,
  EndpointSlice,
  EndpointSubset,
  Node,
  Pod,
  Service,
  ServicePort,
} from '../shared/kube/index.ts';
import { MANAGED_BY_LABEL as MANAGED_BY, SERVICE_NAME_LABEL as SERVICE_NAME } from '../shared/kube/index.ts';
import { matchesSelectorMap } from '../shared/labels.ts';

export { MANAGED_BY, SERVICE_NAME };
export const CONTROLLER = 'endpointslice-controller.k8s.io';
export const MAX_PER_SLICE = 100;
/** When the change (pod or Service) that led to a slice's content was seen: proxies measure from it. */
export const TRIGGER_TIME = 'endpoints.kubernetes.io/last-change-trigger-time';

export interface EndpointGroup {
  ports: EndpointPort[];
  endpoints: Endpoint[];
}

export function selectsPod(svc: Service, pod: Pod): boolean {
  const sel = svc.spec?.selector;
  if (!sel || !Object.keys(sel).length || pod.metadata.namespace !== svc.metadata.namespace) return false;
  return matchesSelectorMap(sel, pod.metadata.labels);
}

function resolvePort(svcPort: ServicePort, pod: Pod): number | null {
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
export function endpointGroups(svc: Service, pods: Pod[], nodes: Map<string, Node>): EndpointGroup[] {
  const publish = !!svc.spec?.publishNotReadyAddresses;
  const groups = new Map<string, EndpointGroup>();
  const selected = pods
    .filter((p) => selectsPod(svc, p) && p.status?.podIP && !isTerminal(p))
    .sort((a, b) => String(a.metadata.name).localeCompare(String(b.metadata.name)));
  for (const pod of selected) {
    const ports: EndpointPort[] = [];
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
    // A pod names itself in the Service's DNS (web-0.web.ns.svc) when its subdomain is the Service.
    const hostname = pod.spec.hostname && pod.spec.subdomain === svc.metadata.name ? pod.spec.hostname : undefined;
    g.endpoints.push({
      addresses: [String(pod.status?.podIP)],
      conditions: { ready: publish || (ready && !terminating), serving: publish || ready, terminating },
      ...(hostname ? { hostname } : {}),
      ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
      ...(zone ? { zone } : {}),
      targetRef: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
    });
  }
  return [...groups.values()].sort((a, b) => JSON.stringify(a.ports).localeCompare(JSON.stringify(b.ports)));
}

/** Desired slices (name left to the caller), at most MAX_PER_SLICE endpoints each. */
export function desiredSlices(svc: Service, groups: EndpointGroup[]): EndpointGroup[] {
  const out: EndpointGroup[] = [];
  for (const g of groups) {
    for (let i = 0; i < g.endpoints.length; i += MAX_PER_SLICE)
      out.push({ ports: g.ports, endpoints: g.endpoints.slice(i, i + MAX_PER_SLICE) });
  }
  // A Service with ports and no endpoints still has one (empty) slice, as Kubernetes keeps it.
  if (!out.length)
    out.push({
      ports: (svc.spec?.ports ?? [])
        .filter((p) => typeof (p.targetPort ?? p.port) === 'number' || /^\d+$/.test(String(p.targetPort ?? p.port)))
        .map((p) => ({ name: p.name ?? '', port: Number(p.targetPort ?? p.port), protocol: p.protocol ?? 'TCP' })),
      endpoints: [],
    });
  return out;
}

export interface SlicePlan {
  create: EndpointSlice[];
  update: EndpointSlice[];
  remove: string[];
}

/** Matches desired slices to existing ones (same ports, in order), changing only what differs. */
export function planSlices(
  svc: Service,
  existing: EndpointSlice[],
  desired: EndpointGroup[],
  trigger?: string,
  managedBy = CONTROLLER,
): SlicePlan {
  const plan: SlicePlan = { create: [], update: [], remove: [] };
  const stamp = (annotations: Record<string, string> = {}) =>
    trigger ? { annotations: { ...annotations, [TRIGGER_TIME]: trigger } } : {};
  const pool = [...existing].sort((a, b) => String(a.metadata.name).localeCompare(String(b.metadata.name)));
  const labels = { [SERVICE_NAME]: String(svc.metadata.name), [MANAGED_BY]: managedBy };
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
          metadata: {
            ...cur.metadata,
            labels: { ...(cur.metadata.labels ?? {}), ...labels },
            ...stamp(cur.metadata.annotations),
          },
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
          ...stamp(),
          ownerReferences: [
            {
              apiVersion: 'v1',
              kind: 'Service',
              name: String(svc.metadata.name),
              uid: String(svc.metadata.uid),
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
  plan.remove = pool.map((s) => String(s.metadata.name));
  return plan;
}

/** The legacy Endpoints object's subsets. */
export function endpointsSubsets(groups: EndpointGroup[]): EndpointSubset[] {
  return groups
    .filter((g) => g.endpoints.length)
    .map((g) => {
      const addr = (e: Endpoint) => ({
        ip: e.addresses[0],
        ...(e.nodeName ? { nodeName: e.nodeName } : {}),
        targetRef: e.targetRef,
      });
      const ready = g.endpoints.filter((e) => e.conditions?.ready).map(addr);
      const notReady = g.endpoints.filter((e) => !e.conditions?.ready).map(addr);
      return {
        ...(ready.length ? { addresses: ready } : {}),
        ...(notReady.length ? { notReadyAddresses: notReady } : {}),
        ports: g.ports.map((p) => ({
          ...(p.name ? { name: p.name } : {}),
          port: Number(p.port),
          protocol: p.protocol,
        })),
      };
    });
}
