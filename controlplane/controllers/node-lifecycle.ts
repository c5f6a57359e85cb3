// Nodes: a pod subnet for every Node (spec.podCIDR, kept across restarts, released when the
// Node is deleted), and health from the node's Lease: not renewed within the grace period →
// Ready=Unknown, taint node.kubernetes.io/unreachable:NoExecute and its pods marked not Ready
// at once (endpoints drop them); Ready=False → taint not-ready:NoExecute. Pods on a node with a
// NoExecute taint are evicted once their toleration runs out (tolerationSeconds, or the default
// for pods that do not tolerate it at all). nodeTaints and evictions are the pure parts.
import { kubeTime } from '../api/time.ts';
import type { Ctx, Registry } from '../api/registry.ts';
import { RESOURCES } from '../api/resources.ts';
import type { Informer } from './informer.ts';
import { EventRecorder } from './events.ts';
import { ignoreGone } from './ownership.ts';
import { ctxFor } from './pod-owner.ts';
import type { PodCidrAllocator } from '../allocator/podcidr-allocator.ts';
import type { Condition, Lease, Node, ObjectMeta, Pod, Stored, Taint, Toleration } from '../shared/kube/index.ts';

const NODES = RESOURCES.find((r) => r.kind === 'Node')!;
const PODS = RESOURCES.find((r) => r.kind === 'Pod')!;
export const UNREACHABLE = 'node.kubernetes.io/unreachable';
export const NOT_READY = 'node.kubernetes.io/not-ready';

export const readyOf = (n: Node): Condition['status'] =>
  (n.status?.conditions ?? []).find((c) => c.type === 'Ready')?.status ?? 'Unknown';

/** The node's taints as health wants them: ours added or removed, others kept. */
export function nodeTaints(node: Node, now: number): Taint[] | null {
  const ready = readyOf(node);
  const cur = node.spec?.taints ?? [];
  const want = ready === 'Unknown' ? UNREACHABLE : ready === 'False' ? NOT_READY : null;
  const others = cur.filter((t) => !((t.key === UNREACHABLE || t.key === NOT_READY) && t.effect === 'NoExecute'));
  const existing = cur.find((t) => t.key === want && t.effect === 'NoExecute');
  const added: Taint = { key: want ?? '', effect: 'NoExecute', timeAdded: kubeTime(now) };
  const next = want ? [...others, existing ?? added] : others;
  return JSON.stringify(next) === JSON.stringify(cur) ? null : next;
}

/** Pods to evict from a node: those whose toleration of a NoExecute taint has run out. */
export function evictions<P extends { metadata: ObjectMeta; spec?: { tolerations?: Toleration[] } }>(
  node: Node,
  pods: P[],
  now: number,
  defaultSeconds: number,
): P[] {
  const taints = (node.spec?.taints ?? []).filter((t) => t.effect === 'NoExecute');
  if (!taints.length) return [];
  return pods.filter(
    (p) =>
      !p.metadata.deletionTimestamp &&
      taints.some((t) => {
        const tol = (p.spec?.tolerations ?? []).find(
          (x) =>
            (!x.effect || x.effect === 'NoExecute') &&
            (x.operator === 'Exists'
              ? !x.key || x.key === t.key
              : x.key === t.key && (x.value ?? '') === (t.value ?? '')),
        );
        const secs = tol ? tol.tolerationSeconds : t.key === UNREACHABLE || t.key === NOT_READY ? defaultSeconds : 0;
        if (secs === undefined || secs === null) return false; // null: the JSON may carry it
        return Date.parse(t.timeAdded ?? kubeTime(now)) + Number(secs) * 1000 <= now;
      }),
  );
}

export interface NodeLifecycleOptions {
  gracePeriodSeconds: number;
  defaultTolerationSeconds: number;
}

export class NodeLifecycleController {
  private reg: Registry;
  private nodes: Informer<Stored<Node>>;
  private pods: Informer<Stored<Pod>>;
  private leases: Informer<Stored<Lease>>;
  private cidrs: PodCidrAllocator;
  private o: NodeLifecycleOptions;
  private ctx: Ctx = ctxFor('node-lifecycle-controller');
  private events: EventRecorder;
  private log: (s: string) => void;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private started = Date.now();

  constructor(
    reg: Registry,
    inf: { nodes: Informer<Stored<Node>>; pods: Informer<Stored<Pod>>; leases: Informer<Stored<Lease>> },
    cidrs: PodCidrAllocator,
    o: NodeLifecycleOptions,
    log: (s: string) => void,
  ) {
    this.reg = reg;
    this.nodes = inf.nodes;
    this.pods = inf.pods;
    this.leases = inf.leases;
    this.cidrs = cidrs;
    this.o = o;
    this.log = log;
    this.events = new EventRecorder(reg, 'node-controller');
  }

  start() {
    this.nodes.onChange((type, n) => {
      if (type === 'ADDED' && !n.spec?.podCIDR) void this.tick();
    });
    this.timer = setInterval(() => {
      void this.tick();
    }, 1000);
    void this.tick();
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
  }

  private async tick() {
    if (this.busy) return;
    this.busy = true;
    try {
      await this.pass();
    } catch (e) {
      this.log(`node lifecycle: ${(e as Error).message}`);
    } finally {
      this.busy = false;
    }
  }

  private async pass() {
    const now = Date.now();
    const nodes = this.nodes.list();
    const names = new Set(nodes.map((n) => n.metadata.name));
    // Subnets: give, confirm, and take back from nodes that are gone.
    const claims = await this.cidrs.claims();
    for (const [subnet, holder] of claims)
      if (!names.has(holder)) {
        await this.cidrs.release(subnet);
        this.log(`released pod subnet ${subnet} of deleted node ${holder}`);
      }
    for (const n of nodes) {
      const name = n.metadata.name;
      if (!n.spec?.podCIDR) {
        const subnet = await this.cidrs.allocate(name);
        await this.reg
          .patch(NODES, undefined, name, 'merge', { spec: { podCIDR: subnet, podCIDRs: [subnet] } }, this.ctx)
          .catch(ignoreGone);
        void this.events.record(n, 'Normal', 'CIDRAssignmentSucceeded', `Node ${name} got pod subnet ${subnet}`);
      } else if (claims.get(n.spec.podCIDR) !== name && !(await this.cidrs.claim(n.spec.podCIDR, name))) {
        void this.events.record(
          n,
          'Warning',
          'CIDRNotAvailable',
          `pod subnet ${n.spec.podCIDR} of node ${name} belongs to node ${claims.get(n.spec.podCIDR)}`,
        );
      }
    }
    // Health from leases (a fresh server gives nodes a grace period before judging them).
    const grace = this.o.gracePeriodSeconds * 1000;
    const podsByNode = new Map<string, Stored<Pod>[]>();
    for (const p of this.pods.list()) {
      if (!p.spec.nodeName) continue;
      let l = podsByNode.get(p.spec.nodeName);
      if (!l) podsByNode.set(p.spec.nodeName, (l = []));
      l.push(p);
    }
    for (const n of nodes) {
      const name = n.metadata.name;
      const lease = this.leases.get(`kube-node-lease/${name}`);
      const renewed = lease?.spec?.renewTime
        ? Date.parse(lease.spec.renewTime)
        : Date.parse(n.metadata.creationTimestamp ?? kubeTime(now));
      const stale = now - Math.max(renewed, this.started) > grace;
      const podsHere = podsByNode.get(name) ?? [];
      if (stale && readyOf(n) !== 'Unknown') {
        const conditions: Condition[] = (n.status?.conditions ?? []).map((c) => ({
          ...c,
          status: 'Unknown',
          reason: 'NodeStatusUnknown',
          message: 'Kubelet stopped posting node status.',
          lastTransitionTime: kubeTime(now),
        }));
        if (!conditions.some((c) => c.type === 'Ready'))
          conditions.push({
            type: 'Ready',
            status: 'Unknown',
            reason: 'NodeStatusUnknown',
            message: 'Kubelet stopped posting node status.',
            lastTransitionTime: kubeTime(now),
            lastHeartbeatTime: kubeTime(renewed),
          });
        await this.reg
          .patch(NODES, undefined, name, 'merge', { status: { conditions } }, this.ctx, { sub: 'status' })
          .catch(ignoreGone);
        this.log(`node ${name}: lease not renewed for ${Math.round((now - renewed) / 1000)} s; Ready=Unknown`);
        void this.events.record(n, 'Normal', 'NodeNotReady', `Node ${name} status is now: NodeNotReady`);
        for (const p of podsHere) await this.podNotReady(p, now);
        continue; // taints on the next pass, from the updated object
      }
      const taints = nodeTaints(n, now);
      if (taints)
        await this.reg
          .patch(NODES, undefined, name, 'merge', { spec: { taints: taints.length ? taints : null } }, this.ctx)
          .catch(ignoreGone);
      for (const p of evictions(n, podsHere, now, this.o.defaultTolerationSeconds)) {
        await this.reg
          .delete(PODS, p.metadata.namespace, p.metadata.name, { preconditions: { uid: p.metadata.uid } }, this.ctx)
          .catch(ignoreGone);
        void this.events.record(
          p,
          'Normal',
          'TaintManagerEviction',
          `Marking for deletion Pod ${p.metadata.namespace}/${p.metadata.name}`,
        );
      }
    }
  }

  private async podNotReady(p: Stored<Pod>, now: number) {
    const conditions = (p.status?.conditions ?? [])
      .filter((c) => c.type === 'Ready' || c.type === 'ContainersReady')
      .filter((c) => c.status !== 'False');
    if (!conditions.length) return;
    await this.reg
      .patch(
        PODS,
        p.metadata.namespace,
        p.metadata.name,
        'strategic',
        {
          status: {
            conditions: conditions.map((c) => ({
              type: c.type,
              status: 'False',
              reason: 'NodeNotReady',
              message: 'the node this pod runs on stopped reporting',
              lastTransitionTime: kubeTime(now),
            })),
          },
        },
        this.ctx,
        { sub: 'status' },
      )
      .catch(ignoreGone);
  }
}
