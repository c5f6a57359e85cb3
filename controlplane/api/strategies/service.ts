// A Service's rules: its ClusterIP and NodePorts (and a Local LoadBalancer's health-check port)
// come from the service allocator, are kept across updates, and are given back when the Service
// drops them or is deleted; fields its type has no use for are cleared when the type changes.
import { AllocationError } from '../../allocator/service-allocator.ts';
import type { Service } from '../../shared/kube/index.ts';
import { invalid } from '../status.ts';
import { defaultStrategy } from './default.ts';
import type { Allocators, Reservation, Strategy } from './strategy.ts';

const SERVICE = { kind: 'Service', group: '' };

/** Addresses and ports taken for one write. */
interface Taken {
  ip?: string;
  ports: number[];
}

async function giveBack(alloc: Allocators, t: Taken): Promise<void> {
  if (t.ip) await alloc.service.releaseIP(t.ip);
  for (const p of t.ports) await alloc.service.releaseNodePort(p);
}

/** Gives the Service its ClusterIP and the NodePorts its type needs, keeping what `old` held. */
async function reserve(o: Service, old: Service | null, alloc: Allocators): Promise<Reservation> {
  const taken: Taken = { ports: [] };
  const s = o.spec;
  const owner = `${o.metadata.namespace}/${o.metadata.name}`;
  const oldSpec = old?.spec;
  try {
    if (s.type === 'ExternalName') {
      delete s.clusterIP;
      delete s.clusterIPs;
    } else if (s.clusterIP === 'None') {
      s.clusterIPs = ['None'];
    } else if (oldSpec?.clusterIP && oldSpec.clusterIP !== 'None' && oldSpec.type !== 'ExternalName') {
      s.clusterIP = oldSpec.clusterIP;
      s.clusterIPs = [oldSpec.clusterIP];
    } else {
      taken.ip = await alloc.service.allocateIP(owner, s.clusterIP || undefined);
      s.clusterIP = taken.ip;
      s.clusterIPs = [taken.ip];
    }
    const needPorts = s.type === 'NodePort' || (s.type === 'LoadBalancer' && s.allocateLoadBalancerNodePorts !== false);
    const oldPorts = new Set((oldSpec?.ports ?? []).map((p) => p.nodePort).filter(Boolean));
    for (const p of s.ports ?? []) {
      if (!needPorts) {
        if (s.type !== 'LoadBalancer') delete p.nodePort;
        continue;
      }
      if (p.nodePort && oldPorts.has(p.nodePort)) continue;
      const oldSame = (oldSpec?.ports ?? []).find(
        (q) => q.port === p.port && (q.protocol ?? 'TCP') === (p.protocol ?? 'TCP') && q.nodePort,
      );
      // A port whose nodePort the client left out keeps the one it had, unless another port took it.
      if (!p.nodePort && oldSame && (s.ports ?? []).filter((q) => q.nodePort === oldSame.nodePort).length === 0) {
        p.nodePort = oldSame.nodePort;
        continue;
      }
      p.nodePort = await alloc.service.allocateNodePort(owner, p.nodePort || undefined);
      taken.ports.push(p.nodePort);
    }
    // A Local-policy LoadBalancer gets its health-check port from the NodePort range.
    if (s.type === 'LoadBalancer' && s.externalTrafficPolicy === 'Local') {
      const oldHc = oldSpec?.type === 'LoadBalancer' ? oldSpec.healthCheckNodePort : undefined;
      if (!s.healthCheckNodePort && oldHc) s.healthCheckNodePort = oldHc;
      else if (!s.healthCheckNodePort || s.healthCheckNodePort !== oldHc) {
        s.healthCheckNodePort = await alloc.service.allocateNodePort(owner, s.healthCheckNodePort || undefined);
        taken.ports.push(s.healthCheckNodePort);
      }
    } else delete s.healthCheckNodePort;
  } catch (e) {
    await giveBack(alloc, taken);
    if (e instanceof AllocationError)
      throw invalid(SERVICE, o.metadata.name ?? '', [
        { field: e.field, message: `Invalid value: ${JSON.stringify(e.value)}: ${e.message}` },
      ]);
    throw e;
  }
  return { revert: () => giveBack(alloc, taken) };
}

/** Frees what the old Service held and the new one (none, once deleted) no longer does. */
async function releaseDropped(next: Service | null, old: Service, alloc: Allocators): Promise<void> {
  const keepIp = next?.spec?.clusterIP;
  const oldIp = old.spec?.clusterIP;
  if (oldIp && oldIp !== 'None' && oldIp !== keepIp) await alloc.service.releaseIP(oldIp);
  const keep = new Set((next?.spec?.ports ?? []).map((p) => p.nodePort));
  for (const p of old.spec?.ports ?? [])
    if (p.nodePort && !keep.has(p.nodePort)) await alloc.service.releaseNodePort(p.nodePort);
  const hc = old.spec?.healthCheckNodePort;
  if (hc && hc !== next?.spec?.healthCheckNodePort && !keep.has(hc)) await alloc.service.releaseNodePort(hc);
}

/**
 * As Kubernetes does on update: fields the new type has no use for, left unchanged by the user,
 * are cleared (nodePorts when leaving NodePort/LoadBalancer, the LB class and health-check port
 * when leaving LoadBalancer), so `type: ClusterIP` alone is a valid change.
 */
function dropTypeDependentFields(next: Service, old: Service): void {
  const os = old.spec ?? {},
    ns = next.spec ?? {};
  if (os.type === ns.type) return;
  if (ns.type !== 'NodePort' && ns.type !== 'LoadBalancer') {
    for (const p of ns.ports ?? []) {
      const before = (os.ports ?? []).find((q) => q.port === p.port && (q.protocol ?? 'TCP') === (p.protocol ?? 'TCP'));
      if (p.nodePort && before?.nodePort === p.nodePort) delete p.nodePort;
    }
  }
  if (ns.type !== 'LoadBalancer') {
    if (ns.healthCheckNodePort && ns.healthCheckNodePort === os.healthCheckNodePort) delete ns.healthCheckNodePort;
    if (ns.loadBalancerClass && ns.loadBalancerClass === os.loadBalancerClass) delete ns.loadBalancerClass;
    if (
      ns.allocateLoadBalancerNodePorts !== undefined &&
      ns.allocateLoadBalancerNodePorts === os.allocateLoadBalancerNodePorts
    )
      delete ns.allocateLoadBalancerNodePorts;
  }
}

export const serviceStrategy: Strategy<Service> = {
  ...defaultStrategy,
  // A Service keeps the status it is created with (as Kubernetes does: the LoadBalancer's ingress).
  prepareForCreate() {},
  normalizeUpdate: dropTypeDependentFields,
  reserve,
  releaseDropped,
};
