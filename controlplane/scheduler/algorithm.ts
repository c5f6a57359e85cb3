// Where a pod goes: the filters and scores of kube-scheduler's default profile that Skiff
// implements, as a pure function of the pod, the nodes and the pods already bound to them.
// Filters: Ready, unschedulable (cordon), nodeName, nodeSelector and required node affinity,
// taints (NoSchedule/NoExecute) against tolerations, requests against allocatable, host ports,
// required pod anti-affinity by hostname. Scores: least allocated, spreading one owner's pods,
// preferred node affinity, PreferNoSchedule taints, preferred pod anti-affinity by hostname.
import { quantity } from '../shared/resources.ts';
import type {
  Container,
  Named,
  Node,
  NodeSelectorRequirement,
  NodeSelectorTerm,
  Pod,
  PodAffinityTerm,
  Taint,
  Toleration,
} from '../shared/kube/index.ts';
import { matchesLabelSelector } from '../shared/labels.ts';

/** A node with the pods bound to it and their summed requests (kept up to date by addPod). */
/** A node as the scheduler sees it: it has a name (the store's objects always do). */
export type NamedNode = Node & Named;

export interface NodeInfo {
  node: NamedNode;
  pods: Pod[];
  used: { cpu: number; memory: number };
  noCpu: number;
  noMemory: number;
}

export function nodeInfo(node: NamedNode, pods: Pod[] = []): NodeInfo {
  const info: NodeInfo = { node, pods: [], used: { cpu: 0, memory: 0 }, noCpu: 0, noMemory: 0 };
  for (const p of pods) addPod(info, p);
  return info;
}

export function addPod(info: NodeInfo, pod: Pod) {
  const r = podRequests(pod);
  info.pods.push(pod);
  info.used.cpu += r.cpu;
  info.used.memory += r.memory;
  if (!r.cpu) info.noCpu++;
  if (!r.memory) info.noMemory++;
}
export type Decision =
  | { node: string; message?: undefined }
  | { node?: undefined; message: string; reasons: Record<string, number> };

const HOSTNAME = 'kubernetes.io/hostname';

/** Sum of the pod's requests: max(each init container, sum of app containers), plus overhead. */
export function podRequests(pod: Pick<Pod, 'spec'>): { cpu: number; memory: number } {
  const sum = (cs: Container[] | undefined): { cpu: number; memory: number } =>
    (cs ?? []).reduce<{ cpu: number; memory: number }>(
      (a, c) => ({
        cpu: a.cpu + quantity(c.resources?.requests?.cpu ?? c.resources?.limits?.cpu),
        memory: a.memory + quantity(c.resources?.requests?.memory ?? c.resources?.limits?.memory),
      }),
      { cpu: 0, memory: 0 },
    );
  const app = sum(pod.spec.containers);
  for (const c of pod.spec.initContainers ?? []) {
    const one = sum([c]);
    app.cpu = Math.max(app.cpu, one.cpu);
    app.memory = Math.max(app.memory, one.memory);
  }
  return app;
}

function matchExpr(e: NodeSelectorRequirement, labels: Record<string, string>): boolean {
  const v = labels[e.key];
  switch (e.operator) {
    case 'In':
      return v !== undefined && (e.values ?? []).includes(v);
    case 'NotIn':
      return v === undefined || !(e.values ?? []).includes(v);
    case 'Exists':
      return v !== undefined;
    case 'DoesNotExist':
      return v === undefined;
    case 'Gt':
      return v !== undefined && Number(v) > Number(e.values?.[0]);
    case 'Lt':
      return v !== undefined && Number(v) < Number(e.values?.[0]);
    default:
      return false;
  }
}

function nodeFields(node: Node): Record<string, string> {
  return { 'metadata.name': node.metadata.name ?? '' };
}

/** A NodeSelectorTerm: all its expressions (labels) and fields match. */
function termMatches(t: NodeSelectorTerm, node: Node): boolean {
  const labels = node.metadata.labels ?? {};
  const exprs = t.matchExpressions ?? [],
    fields = t.matchFields ?? [];
  if (!exprs.length && !fields.length) return false;
  return exprs.every((e) => matchExpr(e, labels)) && fields.every((e) => matchExpr(e, nodeFields(node)));
}

export function matchesNodeSelector(pod: Pick<Pod, 'spec'>, node: Node): boolean {
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(pod.spec.nodeSelector ?? {})) if (labels[k] !== v) return false;
  const req = pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (req && !(req.nodeSelectorTerms ?? []).some((t) => termMatches(t, node))) return false;
  return true;
}

export function tolerates(
  tolerations: Toleration[] | undefined,
  taint: Pick<Taint, 'key' | 'value' | 'effect'>,
): boolean {
  return (tolerations ?? []).some((t) => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (!t.key) return t.operator === 'Exists';
    if (t.key !== taint.key) return false;
    return t.operator === 'Exists' || (t.value ?? '') === (taint.value ?? '');
  });
}

const isReady = (n: Node) => (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
const hostPorts = (p: Pod): string[] =>
  p.spec.containers.flatMap((c) =>
    (c.ports ?? [])
      .filter((x) => x.hostPort)
      .map((x) => `${x.protocol ?? 'TCP'}/${x.hostIP || '0.0.0.0'}/${x.hostPort}`),
  );
const controllerUid = (p: Pod) => (p.metadata.ownerReferences ?? []).find((o) => o.controller)?.uid;

const requiredAntiAffinity = (pod: Pod): PodAffinityTerm[] =>
  (pod.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).filter(
    (t) => t.topologyKey === HOSTNAME,
  );
const preferredAntiAffinity = (pod: Pod): { weight: number; podAffinityTerm: PodAffinityTerm }[] =>
  (pod.spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []).filter(
    (w) => w.podAffinityTerm?.topologyKey === HOSTNAME,
  );

const sameNamespaces = (pod: Pod, term: PodAffinityTerm, other: Pod) =>
  (term.namespaces?.length ? term.namespaces : [pod.metadata.namespace]).includes(other.metadata.namespace);

/** Why a node cannot take the pod, or null. */
export function filterNode(pod: Pod, info: NodeInfo): string | null {
  const n = info.node;
  if (pod.spec.nodeName && pod.spec.nodeName !== n.metadata.name) return "node(s) didn't match the requested node name";
  if (!isReady(n)) return 'node(s) were not ready';
  if (
    n.spec?.unschedulable &&
    !tolerates(pod.spec.tolerations, { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' })
  )
    return 'node(s) were unschedulable';
  if (!matchesNodeSelector(pod, n)) return "node(s) didn't match Pod's node affinity/selector";
  for (const t of n.spec?.taints ?? []) {
    if ((t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !tolerates(pod.spec.tolerations, t))
      return `node(s) had untolerated taint {${t.key}: ${t.value ?? ''}}`;
  }
  const want = podRequests(pod);
  const used = info.used;
  const alloc = n.status?.allocatable ?? {};
  if (alloc.pods !== undefined && info.pods.length + 1 > quantity(alloc.pods)) return 'Too many pods';
  if (want.cpu > 0 && alloc.cpu !== undefined && used.cpu + want.cpu > quantity(alloc.cpu) + 1e-9)
    return 'Insufficient cpu';
  if (want.memory > 0 && alloc.memory !== undefined && used.memory + want.memory > quantity(alloc.memory))
    return 'Insufficient memory';
  const mine = new Set(hostPorts(pod));
  if (mine.size && info.pods.some((p) => hostPorts(p).some((x) => mine.has(x))))
    return "node(s) didn't have free ports for the requested pod ports";
  for (const term of requiredAntiAffinity(pod)) {
    if (
      info.pods.some((p) => sameNamespaces(pod, term, p) && matchesLabelSelector(term.labelSelector, p.metadata.labels))
    )
      return "node(s) didn't match pod anti-affinity rules";
  }
  // Symmetry: a pod already there may refuse this one.
  for (const p of info.pods) {
    for (const term of requiredAntiAffinity(p))
      if (sameNamespaces(p, term, pod) && matchesLabelSelector(term.labelSelector, pod.metadata.labels))
        return "node(s) didn't satisfy existing pods anti-affinity rules";
  }
  return null;
}

/** 0..400: higher is better. */
export function scoreNode(pod: Pod, info: NodeInfo, maxOwnerCount: number): number {
  const n = info.node;
  const alloc = n.status?.allocatable ?? {};
  const want = podRequests(pod);
  const used = info.used;
  // Least allocated, with kube-scheduler's defaults for pods that request nothing (0.1 CPU, 200 MiB).
  const free = (cap: number, u: number, w: number) => (cap > 0 ? Math.max(0, (cap - u - w) / cap) : 0);
  const least =
    50 *
    (free(quantity(alloc.cpu), used.cpu + info.noCpu * 0.1, want.cpu || 0.1) +
      free(quantity(alloc.memory), used.memory + info.noMemory * 200 * 1024 ** 2, want.memory || 200 * 1024 ** 2));
  const owner = controllerUid(pod);
  const same = owner ? info.pods.filter((p) => controllerUid(p) === owner).length : 0;
  const spread = maxOwnerCount > 0 ? 100 * (1 - same / maxOwnerCount) : 100;
  const prefs = pod.spec.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
  const total = prefs.reduce((a, p) => a + Number(p.weight ?? 0), 0);
  const got = prefs
    .filter((p) => p.preference && termMatches(p.preference, n))
    .reduce((a, p) => a + Number(p.weight ?? 0), 0);
  const affinity = total ? (100 * got) / total : 100;
  const soft = (n.spec?.taints ?? []).filter(
    (t) => t.effect === 'PreferNoSchedule' && !tolerates(pod.spec.tolerations, t),
  ).length;
  let anti = 0;
  for (const w of preferredAntiAffinity(pod)) {
    if (
      info.pods.some(
        (p) =>
          sameNamespaces(pod, w.podAffinityTerm, p) &&
          matchesLabelSelector(w.podAffinityTerm.labelSelector, p.metadata.labels),
      )
    )
      anti += Number(w.weight ?? 0);
  }
  return least + spread + affinity + (soft ? 0 : 100) - anti;
}

/** `only`: the nodes the pod's bound local volumes allow (others fail with a volume conflict). */
export function schedule(pod: Pod, infos: NodeInfo[], only?: Record<string, true>): Decision {
  const reasons: Record<string, number> = {};
  const fit: NodeInfo[] = [];
  for (const info of infos) {
    const why =
      only && !only[info.node.metadata.name] ? 'node(s) had volume node affinity conflict' : filterNode(pod, info);
    if (why) reasons[why] = (reasons[why] ?? 0) + 1;
    else fit.push(info);
  }
  if (!fit.length) {
    const parts = Object.entries(reasons)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([r, c]) => `${c} ${r}`);
    return { reasons, message: `0/${infos.length} nodes are available${parts.length ? ': ' + parts.join(', ') : ''}.` };
  }
  const owner = controllerUid(pod);
  const maxOwner = owner ? Math.max(...fit.map((i) => i.pods.filter((p) => controllerUid(p) === owner).length)) : 0;
  let best = fit[0],
    bestScore = -Infinity;
  for (const info of fit) {
    const s = scoreNode(pod, info, maxOwner);
    // Ties go to the node with fewer pods, then by name, so the choice is deterministic.
    if (
      s > bestScore + 1e-9 ||
      (Math.abs(s - bestScore) <= 1e-9 &&
        (info.pods.length < best.pods.length ||
          (info.pods.length === best.pods.length && info.node.metadata.name < best.node.metadata.name)))
    ) {
      best = info;
      bestScore = s;
    }
  }
  return { node: best.node.metadata.name };
}
