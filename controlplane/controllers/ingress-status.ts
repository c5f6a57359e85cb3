// Ingress status: every agent serves the Ingresses of Skiff's classes on its node's address, so
// an Ingress's status.loadBalancer.ingress lists the InternalIPs of the Ready nodes. Written here
// on the server (agents write only their Node, Lease and pod statuses); a pure render decides the
// list and the loop patches only the Ingresses whose status differs.
import type { Ctx, Registry } from '../api/registry.ts';
import { RESOURCES } from '../api/resources.ts';
import { isOurs, ourClasses } from '../shared/ingress-class.ts';
import type { Ingress, IngressClass, LoadBalancerIngress, Node } from '../shared/kube/index.ts';
import { type Informer, keyOf } from './informer.ts';
import { ignoreGone } from './ownership.ts';
import { ctxFor } from './pod-owner.ts';
import { WorkQueue } from './queue.ts';

const INGRESSES = RESOURCES.find((r) => r.kind === 'Ingress')!;

/** The addresses that serve Skiff's Ingresses: each Ready node's InternalIP, sorted. */
export function servingAddresses(nodes: Iterable<Node>): LoadBalancerIngress[] {
  const ips = new Set<string>();
  for (const n of nodes) {
    if (n.metadata.deletionTimestamp) continue;
    const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    const ip = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    if (ready && ip) ips.add(ip);
  }
  return [...ips].sort(byAddress).map((ip) => ({ ip }));
}

function byAddress(a: string, b: string): number {
  const n = (s: string) => s.split('.').reduce((acc, x) => acc * 256 + Number(x), 0);
  return n(a) - n(b);
}

/** The status an Ingress should carry, or undefined when it is not Skiff's to write. */
export function renderIngressStatus(
  ing: Ingress,
  classes: Iterable<IngressClass>,
  nodes: Iterable<Node>,
): LoadBalancerIngress[] | undefined {
  if (ing.metadata.deletionTimestamp || !isOurs(ing, ourClasses(classes))) return undefined;
  return servingAddresses(nodes);
}

const same = (a: LoadBalancerIngress[] | undefined, b: LoadBalancerIngress[]) =>
  JSON.stringify((a ?? []).map((x) => x.ip ?? x.hostname)) === JSON.stringify(b.map((x) => x.ip));

export class IngressStatusController {
  private readonly reg: Registry;
  private readonly ingresses: Informer;
  private readonly classes: Informer;
  private readonly nodes: Informer;
  private readonly queue: WorkQueue;
  private readonly ctx: Ctx = ctxFor('ingress-status-controller');

  constructor(reg: Registry, ingresses: Informer, classes: Informer, nodes: Informer, log: (s: string) => void) {
    this.reg = reg;
    this.ingresses = ingresses;
    this.classes = classes;
    this.nodes = nodes;
    this.queue = new WorkQueue(
      (k) => this.sync(k),
      (s) => log(`ingress status ${s}`),
      2,
    );
  }

  start(): void {
    this.ingresses.onChange((_t, i) => this.queue.add(keyOf(i)));
    // A node becoming Ready or not, or a class change, can change every Ingress's status.
    const all = () => {
      for (const i of this.ingresses.list()) this.queue.add(keyOf(i));
    };
    this.nodes.onChange((_t, n, old) => {
      if (!old || !same(servingAddresses([old as Node]), servingAddresses([n as Node]))) all();
    });
    this.classes.onChange(all);
    all();
  }

  stop(): void {
    this.queue.stop();
  }

  private async sync(key: string): Promise<void> {
    const ing = this.ingresses.get(key) as Ingress | undefined;
    if (!ing) return;
    const want = renderIngressStatus(ing, this.classes.list() as IngressClass[], this.nodes.list() as Node[]);
    if (!want || same(ing.status?.loadBalancer?.ingress, want)) return;
    await this.reg
      .patch(
        INGRESSES,
        ing.metadata.namespace,
        ing.metadata.name as string,
        'merge',
        { status: { loadBalancer: { ingress: want.length ? want : null } } },
        this.ctx,
        { sub: 'status' },
      )
      .catch(ignoreGone);
  }
}
