// EndpointSlice mirroring, as Kubernetes' mirroring controller does it: a Service without a
// selector whose endpoints are written by hand as a legacy Endpoints object (the classic way to
// point a Service at a database outside the cluster) gets EndpointSlices with the same
// addresses, managed by `endpointslicemirroring-controller.k8s.io`, so proxies that read only
// slices serve it. Endpoints labelled `endpointslice.kubernetes.io/skip-mirror: "true"` and
// Services with a selector are left alone (the EndpointSlice controller owns those).
import type { Ctx, Registry } from '../api/registry.ts';
import { RESOURCES } from '../api/resources.ts';
import { type Informer, keyOf } from './informer.ts';
import { WorkQueue } from './queue.ts';
import { ctxFor } from './pod-owner.ts';
import { ignoreGone } from './ownership.ts';
import { MANAGED_BY, MAX_PER_SLICE, planSlices, SERVICE_NAME, type EndpointGroup } from './endpoints-plan.ts';
import type { EndpointAddress, Endpoints, EndpointSlice, Service, Stored } from '../shared/kube/index.ts';

export const MIRROR_CONTROLLER = 'endpointslicemirroring-controller.k8s.io';
export const SKIP_MIRROR = 'endpointslice.kubernetes.io/skip-mirror';
const SLICES = RESOURCES.find((r) => r.kind === 'EndpointSlice')!;

/** Whether the Endpoints object of this Service is mirrored. Pure. */
export function mirrored(svc: Service | undefined, ep: Endpoints | undefined): boolean {
  if (!svc || !ep || svc.metadata.deletionTimestamp) return false;
  if (svc.spec.selector && Object.keys(svc.spec.selector).length) return false;
  if (svc.spec.type === 'ExternalName') return false;
  // The API server's own endpoints get their slice from the EndpointSlice controller.
  if (svc.metadata.namespace === 'default' && svc.metadata.name === 'kubernetes') return false;
  return ep.metadata.labels?.[SKIP_MIRROR] !== 'true';
}

const isV4 = (ip: string) => /^\d+\.\d+\.\d+\.\d+$/.test(ip);

/** The slices an Endpoints object's subsets become: one group per subset, IPv4 only. Pure. */
export function mirrorSlices(ep: Endpoints): EndpointGroup[] {
  const out: EndpointGroup[] = [];
  for (const subset of ep.subsets ?? []) {
    const ports = (subset.ports ?? []).map((p) => ({
      name: p.name ?? '',
      port: p.port,
      protocol: p.protocol ?? 'TCP',
      ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
    }));
    const conv = (ready: boolean) => (a: EndpointAddress) => ({
      addresses: [a.ip],
      conditions: { ready, serving: ready, terminating: false },
      ...(a.hostname ? { hostname: a.hostname } : {}),
      ...(a.nodeName ? { nodeName: a.nodeName } : {}),
      ...(a.targetRef ? { targetRef: a.targetRef } : {}),
    });
    const endpoints = [
      ...(subset.addresses ?? []).filter((a) => isV4(a.ip)).map(conv(true)),
      ...(subset.notReadyAddresses ?? []).filter((a) => isV4(a.ip)).map(conv(false)),
    ];
    for (let i = 0; i < endpoints.length; i += MAX_PER_SLICE)
      out.push({ ports, endpoints: endpoints.slice(i, i + MAX_PER_SLICE) });
  }
  return out;
}

export class EndpointsMirroringController {
  private reg: Registry;
  private services: Informer<Stored<Service>>;
  private endpoints: Informer<Stored<Endpoints>>;
  private slices: Informer<Stored<EndpointSlice>>;
  private queue: WorkQueue;
  private ctx: Ctx = ctxFor('endpointslicemirroring-controller');
  private triggers = new Map<string, string>();

  constructor(
    reg: Registry,
    inf: {
      services: Informer<Stored<Service>>;
      endpoints: Informer<Stored<Endpoints>>;
      slices: Informer<Stored<EndpointSlice>>;
    },
    log: (s: string) => void,
  ) {
    this.reg = reg;
    this.services = inf.services;
    this.endpoints = inf.endpoints;
    this.slices = inf.slices;
    this.queue = new WorkQueue(
      (k) => this.sync(k),
      (s) => log(`endpoints mirroring ${s}`),
    );
  }

  private trigger(key: string) {
    if (!this.triggers.has(key)) this.triggers.set(key, new Date().toISOString());
    this.queue.add(key);
  }

  start() {
    this.services.onChange((_t, s) => this.queue.add(keyOf(s)));
    this.endpoints.onChange((_t, e) => this.trigger(keyOf(e)));
    this.slices.onChange((_t, sl) => {
      const svc = sl.metadata.labels?.[SERVICE_NAME];
      if (svc && sl.metadata.labels?.[MANAGED_BY] === MIRROR_CONTROLLER)
        this.queue.add(`${sl.metadata.namespace}/${svc}`);
    });
    for (const e of this.endpoints.list()) this.queue.add(keyOf(e));
  }

  stop() {
    this.queue.stop();
  }

  private async sync(key: string) {
    const [ns, name] = key.split('/');
    const svc = this.services.get(key);
    const ep = this.endpoints.get(key);
    const mine = this.slices
      .list(ns)
      .filter(
        (s) => s.metadata.labels?.[SERVICE_NAME] === name && s.metadata.labels?.[MANAGED_BY] === MIRROR_CONTROLLER,
      );
    const trigger = this.triggers.get(key);
    this.triggers.delete(key);
    if (!svc || !ep || !mirrored(svc, ep)) {
      for (const s of mine) await this.reg.delete(SLICES, ns, s.metadata.name, {}, this.ctx).catch(ignoreGone);
      return;
    }
    const plan = planSlices(svc, mine, mirrorSlices(ep), trigger, MIRROR_CONTROLLER);
    for (const s of plan.update)
      await this.reg.update(SLICES, ns, String(s.metadata.name), s, this.ctx).catch(ignoreGone);
    for (const s of plan.create) await this.reg.create(SLICES, ns, s, this.ctx);
    for (const n of plan.remove) await this.reg.delete(SLICES, ns, n, {}, this.ctx).catch(ignoreGone);
  }
}
