// Service endpoints: EndpointSlices (discovery.k8s.io/v1) and the legacy Endpoints for every
// Service with a selector, kept minimal (an unchanged slice is not rewritten). The `kubernetes`
// Service's endpoints are the API server's own address.
import type { Ctx, Registry } from '../api/registry.ts';
import { RESOURCES } from '../api/resources.ts';
import { ApiError } from '../api/status.ts';
import { type Informer, keyOf } from './informer.ts';
import { WorkQueue } from './queue.ts';
import { ctxFor } from './pod-owner.ts';
import { ignoreGone } from './ownership.ts';
import {
  endpointGroups,
  desiredSlices,
  endpointsSubsets,
  planSlices,
  selectsPod,
  SERVICE_NAME,
  MANAGED_BY,
  CONTROLLER,
} from './endpoints-plan.ts';
import type { Endpoints, EndpointSlice, EndpointSubset, Node, Pod, Service } from '../shared/kube/index.ts';
import type { EndpointGroup } from './endpoints-plan.ts';

const SLICES = RESOURCES.find((r) => r.kind === 'EndpointSlice')!;
const ENDPOINTS = RESOURCES.find((r) => r.kind === 'Endpoints')!;

export class EndpointsController {
  private reg: Registry;
  private services: Informer<Service>;
  private pods: Informer<Pod>;
  private nodes: Informer<Node>;
  private slices: Informer<EndpointSlice>;
  private queue: WorkQueue;
  private ctx: Ctx = ctxFor('endpointslice-controller');
  private apiServer: { ip: string; port: number };
  /** Per Service: when the first change not yet written to its slices was seen. */
  private triggers = new Map<string, string>();

  constructor(
    reg: Registry,
    inf: {
      services: Informer<Service>;
      pods: Informer<Pod>;
      nodes: Informer<Node>;
      slices: Informer<EndpointSlice>;
    },
    apiServer: { ip: string; port: number },
    log: (s: string) => void,
  ) {
    this.reg = reg;
    this.services = inf.services;
    this.pods = inf.pods;
    this.nodes = inf.nodes;
    this.slices = inf.slices;
    this.apiServer = apiServer;
    this.queue = new WorkQueue(
      (k) => this.sync(k),
      (s) => log(`endpoints ${s}`),
    );
  }

  /** Queues a Service, remembering when the change that caused it was seen. */
  private trigger(key: string) {
    if (!this.triggers.has(key)) this.triggers.set(key, new Date().toISOString());
    this.queue.add(key);
  }

  start() {
    this.services.onChange((_t, s) => this.trigger(keyOf(s)));
    this.pods.onChange((_t, p, old) => {
      for (const s of this.services.list(p.metadata.namespace))
        if (selectsPod(s, p) || (old && selectsPod(s, old))) this.trigger(keyOf(s));
    });
    this.slices.onChange((_t, sl) => {
      const svc = sl.metadata.labels?.[SERVICE_NAME];
      if (svc && sl.metadata.labels?.[MANAGED_BY] === CONTROLLER) this.queue.add(`${sl.metadata.namespace}/${svc}`);
    });
    // A node's zone label feeds the endpoints of its pods.
    this.nodes.onChange((type, n, old) => {
      if (
        type === 'MODIFIED' &&
        old?.metadata.labels?.['topology.kubernetes.io/zone'] === n.metadata.labels?.['topology.kubernetes.io/zone']
      )
        return;
      for (const s of this.services.list()) this.queue.add(keyOf(s));
    });
    for (const s of this.services.list()) this.queue.add(keyOf(s));
  }

  stop() {
    this.queue.stop();
  }

  private async sync(key: string) {
    const [ns, name] = key.split('/');
    const svc = this.services.get(key);
    const mine = this.slices
      .list(ns)
      .filter((s) => s.metadata.labels?.[SERVICE_NAME] === name && s.metadata.labels?.[MANAGED_BY] === CONTROLLER);
    if (!svc || svc.metadata.deletionTimestamp) return; // owner references take the slices away
    if (ns === 'default' && name === 'kubernetes') return this.apiServerEndpoints(svc, mine);
    if (!svc.spec?.selector || !Object.keys(svc.spec.selector).length || svc.spec?.type === 'ExternalName') return;
    const nodes = new Map(this.nodes.list().map((n) => [String(n.metadata.name), n]));
    const groups = endpointGroups(svc, this.pods.list(ns), nodes);
    await this.applySlices(svc, mine, desiredSlices(svc, groups));
    await this.putEndpoints(svc, endpointsSubsets(groups));
  }

  private async apiServerEndpoints(svc: Service, mine: EndpointSlice[]) {
    const port = { name: 'https', port: this.apiServer.port, protocol: 'TCP' as const };
    const ep = { addresses: [this.apiServer.ip], conditions: { ready: true, serving: true, terminating: false } };
    await this.applySlices(svc, mine, [{ ports: [port], endpoints: [ep] }]);
    await this.putEndpoints(svc, [{ addresses: [{ ip: this.apiServer.ip }], ports: [port] }]);
  }

  private async applySlices(svc: Service, mine: EndpointSlice[], desired: EndpointGroup[]) {
    const key = keyOf(svc);
    const trigger = this.triggers.get(key);
    this.triggers.delete(key);
    const plan = planSlices(svc, mine, desired, trigger);
    const ns = svc.metadata.namespace;
    for (const s of plan.update)
      await this.reg.update(SLICES, ns, String(s.metadata.name), s, this.ctx).catch(ignoreGone);
    for (const s of plan.create) await this.reg.create(SLICES, ns, s, this.ctx);
    for (const n of plan.remove) await this.reg.delete(SLICES, ns, n, {}, this.ctx).catch(ignoreGone);
  }

  private async putEndpoints(svc: Service, subsets: EndpointSubset[]) {
    const ns = svc.metadata.namespace;
    const name = String(svc.metadata.name);
    let cur: Endpoints | null = null;
    try {
      cur = (await this.reg.get(ENDPOINTS, ns, name)) as Endpoints;
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 404)) throw e;
    }
    if (cur && JSON.stringify(cur.subsets ?? []) === JSON.stringify(subsets)) return;
    const body = {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: {
        name,
        namespace: ns,
        labels: svc.metadata.labels ?? {},
        ...(cur ? { resourceVersion: cur.metadata.resourceVersion } : {}),
      },
      subsets,
    };
    if (cur) await this.reg.update(ENDPOINTS, ns, name, body, this.ctx).catch(ignoreGone);
    else await this.reg.create(ENDPOINTS, ns, body, this.ctx).catch(ignoreGone);
  }
}
