// LoadBalancer Services get status.loadBalancer.ingress from the server's pool (honouring
// spec.loadBalancerIP when it is free); the address goes back when the Service stops being a
// LoadBalancer or is deleted; an exhausted pool is reported as an event on the Service.
import type { Ctx, Registry } from '../api/registry.ts';
import { RESOURCES } from '../api/resources.ts';
import type { Informer } from './informer.ts';
import { keyOf } from './informer.ts';
import { WorkQueue } from './queue.ts';
import { EventRecorder } from './events.ts';
import { ignoreGone } from './ownership.ts';
import { ctxFor } from './pod-owner.ts';
import { LbPoolError, type LbAllocator } from '../allocator/lb-allocator.ts';
import type { Service, Stored } from '../shared/kube/index.ts';

const SERVICES = RESOURCES.find((r) => r.kind === 'Service')!;

export class LoadBalancerController {
  private reg: Registry;
  private services: Informer<Stored<Service>>;
  private pool: LbAllocator;
  private queue: WorkQueue;
  private events: EventRecorder;
  private ctx: Ctx = ctxFor('service-lb-controller');
  private timer: NodeJS.Timeout | null = null;

  constructor(reg: Registry, services: Informer<Stored<Service>>, pool: LbAllocator, log: (s: string) => void) {
    this.reg = reg;
    this.services = services;
    this.pool = pool;
    this.events = new EventRecorder(reg, 'service-lb-controller');
    this.queue = new WorkQueue(
      (k) => this.sync(k),
      (s) => log(`loadbalancer ${s}`),
      1,
    );
  }

  start() {
    this.services.onChange((_t, s) => this.queue.add(keyOf(s)));
    for (const s of this.services.list()) this.queue.add(keyOf(s));
    // Addresses of Services that are gone or changed type, and Services waiting for a free one.
    this.timer = setInterval(() => {
      this.queue.add('#repair');
      for (const s of this.services.list()) if (wantsLb(s) && !ingressOf(s)) this.queue.add(keyOf(s));
    }, 10_000);
    this.queue.add('#repair');
  }

  stop() {
    this.queue.stop();
    if (this.timer) clearInterval(this.timer);
  }

  private async sync(key: string) {
    if (key === '#repair') return this.repair();
    const svc = this.services.get(key);
    const claims = await this.pool.claims();
    if (!svc || !wantsLb(svc)) {
      for (const [ip, c] of claims) if (c.service === key) await this.pool.release(ip);
      if (svc && ingressOf(svc) && this.pool.pool.includes(ingressOf(svc)!)) await this.setIngress(svc, null);
      return;
    }
    const have = ingressOf(svc);
    const requested = svc.spec.loadBalancerIP || undefined;
    if (have && (!requested || requested === have) && claims.get(have)?.uid === svc.metadata.uid) return;
    let ip: string | null;
    try {
      ip = await this.pool.allocate(key, svc.metadata.uid, requested);
    } catch (e) {
      if (!(e instanceof LbPoolError)) throw e;
      await this.events.record(svc, 'Warning', 'AllocationFailed', e.message);
      return;
    }
    if (!ip) {
      await this.events.record(
        svc,
        'Warning',
        'AllocationFailed',
        requested
          ? `requested address ${requested} is already in use`
          : `no free address in the load-balancer pool (${this.pool.pool.length} addresses)`,
      );
      return;
    }
    if (have && have !== ip) await this.pool.release(have);
    await this.setIngress(svc, ip);
    await this.events.record(svc, 'Normal', 'IPAllocated', `Assigned IP ["${ip}"]`);
  }

  private async setIngress(svc: Stored<Service>, ip: string | null) {
    await this.reg
      .patch(
        SERVICES,
        svc.metadata.namespace,
        svc.metadata.name,
        'merge',
        { status: { loadBalancer: { ingress: ip ? [{ ip, ipMode: 'VIP' }] : null } } },
        this.ctx,
        { sub: 'status' },
      )
      .catch(ignoreGone);
  }

  private async repair() {
    for (const [ip, c] of await this.pool.claims()) {
      const svc = this.services.get(c.service);
      if (!svc || svc.metadata.uid !== c.uid || !wantsLb(svc)) await this.pool.release(ip);
    }
  }
}

const wantsLb = (s: Service) => s.spec.type === 'LoadBalancer' && !s.metadata.deletionTimestamp;
const ingressOf = (s: Service): string | undefined => s.status?.loadBalancer?.ingress?.[0]?.ip;
