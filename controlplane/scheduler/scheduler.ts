// The scheduler: pending pods (no nodeName, our schedulerName) are placed by the pure algorithm
// on a snapshot of nodes and their bound pods, bound through pods/binding, and an unschedulable
// pod gets PodScheduled=False with the reasons and a FailedScheduling event. Pending pods are
// tried again whenever a node or a bound pod changes, and every 10 s.
import { kubeTime } from '../api/time.ts';
import type { Registry, Ctx } from '../api/registry.ts';
import { RESOURCES } from '../api/resources.ts';
import { ApiError } from '../api/status.ts';
import { type Informer, keyOf } from '../controllers/informer.ts';
import { EventRecorder } from '../controllers/events.ts';
import { addPod, nodeInfo, schedule, type NodeInfo } from './algorithm.ts';
import type { Node, Pod, Stored } from '../shared/kube/index.ts';

const PODS = RESOURCES.find((r) => r.kind === 'Pod')!;
const ctx: Ctx = {
  user: 'system:kube-scheduler',
  manager: 'kube-scheduler',
  dryRun: false,
  fieldValidation: 'Ignore',
  warnings: [],
};

const terminal = (p: Pod) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
export const isPending = (p: Pod) =>
  !p.spec.nodeName &&
  !p.metadata.deletionTimestamp &&
  !terminal(p) &&
  (p.spec.schedulerName ?? 'default-scheduler') === 'default-scheduler';

export class Scheduler {
  private reg: Registry;
  private pods: Informer<Stored<Pod>>;
  private nodes: Informer<Stored<Node>>;
  private events: EventRecorder;
  private log: (s: string) => void;
  private queue = new Set<string>();
  /** Bindings made but not yet seen in the cache. */
  private assumed = new Map<string, string>();
  private failed = new Map<string, string>();
  private running = false;
  private scheduled = false;
  private timer: NodeJS.Timeout | null = null;
  /** The node a pod's bound volumes pin it to (local volumes), if any. */
  volumeNode: (pod: Stored<Pod>) => string | undefined = () => undefined;

  constructor(reg: Registry, pods: Informer<Stored<Pod>>, nodes: Informer<Stored<Node>>, log: (s: string) => void) {
    this.reg = reg;
    this.pods = pods;
    this.nodes = nodes;
    this.log = log;
    this.events = new EventRecorder(reg, 'default-scheduler');
  }

  start() {
    this.pods.onChange((type, p) => {
      const k = keyOf(p);
      if (type !== 'DELETED' && isPending(p)) {
        this.queue.add(k);
        this.kick();
        return;
      }
      if (p.spec.nodeName) this.assumed.delete(k);
      this.failed.delete(k);
      // A bound pod going away (or finishing) may make room for a pending one.
      if (type === 'DELETED' || terminal(p)) this.retryAll();
    });
    this.nodes.onChange(() => this.retryAll());
    this.timer = setInterval(() => this.retryAll(), 10_000);
    this.retryAll();
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
  }

  private retryAll() {
    for (const p of this.pods.list()) if (isPending(p)) this.queue.add(keyOf(p));
    this.kick();
  }

  private kick() {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.run();
    });
  }

  private snapshot(): Map<string, NodeInfo> {
    const byNode = new Map<string, Pod[]>();
    for (const p of this.pods.list()) {
      const node = p.spec.nodeName || this.assumed.get(keyOf(p));
      if (!node || terminal(p)) continue;
      let l = byNode.get(node);
      if (!l) byNode.set(node, (l = []));
      l.push(p);
    }
    return new Map(this.nodes.list().map((n) => [n.metadata.name, nodeInfo(n, byNode.get(n.metadata.name))]));
  }

  private async run() {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.size) {
        const batch = [...this.queue];
        this.queue.clear();
        const snap = this.snapshot();
        const infos = [...snap.values()];
        const binds: Promise<void>[] = [];
        for (const key of batch) {
          const pod = this.pods.get(key);
          if (!pod || !isPending(pod) || this.assumed.has(key)) continue;
          const pinned = this.volumeNode(pod);
          const d = pinned ? schedule(pod, infos, { [pinned]: true }) : schedule(pod, infos);
          if (d.node) {
            addPod(snap.get(d.node)!, pod);
            this.assumed.set(key, d.node);
            binds.push(this.bind(pod, d.node));
          } else if (d.message !== undefined) binds.push(this.unschedulable(pod, d.message));
          if (binds.length >= 64) await Promise.all(binds.splice(0));
        }
        await Promise.all(binds);
      }
    } finally {
      this.running = false;
    }
  }

  private async bind(pod: Stored<Pod>, node: string) {
    const key = keyOf(pod);
    try {
      await this.reg.bind(
        pod.metadata.namespace ?? 'default',
        pod.metadata.name,
        {
          apiVersion: 'v1',
          kind: 'Binding',
          metadata: { name: pod.metadata.name },
          target: { kind: 'Node', name: node },
        },
        PODS,
        ctx,
      );
      this.failed.delete(key);
      void this.events.record(
        pod,
        'Normal',
        'Scheduled',
        `Successfully assigned ${pod.metadata.namespace}/${pod.metadata.name} to ${node}`,
      );
    } catch (e) {
      this.assumed.delete(key);
      if (!(e instanceof ApiError && (e.code === 404 || e.code === 409)))
        this.log(`binding ${key} to ${node}: ${(e as Error).message}`);
    }
  }

  private async unschedulable(pod: Stored<Pod>, message: string) {
    const key = keyOf(pod);
    if (this.failed.get(key) === message) return;
    this.failed.set(key, message);
    const cond = (pod.status?.conditions ?? []).find((c) => c.type === 'PodScheduled');
    try {
      if (!(cond?.status === 'False' && cond.message === message)) {
        await this.reg.patch(
          PODS,
          pod.metadata.namespace,
          pod.metadata.name,
          'strategic',
          {
            status: {
              conditions: [
                {
                  type: 'PodScheduled',
                  status: 'False',
                  reason: 'Unschedulable',
                  message,
                  lastProbeTime: null,
                  lastTransitionTime: cond?.status === 'False' ? cond.lastTransitionTime : kubeTime(),
                },
              ],
            },
          },
          ctx,
          { sub: 'status' },
        );
      }
      await this.events.record(pod, 'Warning', 'FailedScheduling', message);
    } catch (e) {
      if (!(e instanceof ApiError && (e.code === 404 || e.code === 409))) throw e;
    }
  }
}
