// The kube-dns Service every cluster shows: selector-less, ClusterIP = the cluster DNS address
// that each agent answers on locally (see agent/dns). Several servers may start at once on one
// etcd: a Service that exists already (409), or its IP already claimed by another server that is
// about to create it (422 "already allocated"), both count as done once the Service is there.
import type { Registry, Ctx } from '../api/registry.ts';
import type { Resource } from '../api/resources.ts';
import { ApiError } from '../api/status.ts';

export function kubeDnsService(ip: string) {
  return {
    metadata: {
      name: 'kube-dns',
      labels: { 'k8s-app': 'kube-dns', 'kubernetes.io/cluster-service': 'true', 'kubernetes.io/name': 'CoreDNS' },
    },
    spec: {
      clusterIP: ip,
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
        { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
      ],
    },
  };
}

export async function ensureKubeDns(reg: Registry, service: Resource, ctx: Ctx, ip: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await reg.create(service, 'kube-system', kubeDnsService(ip), ctx);
      return;
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (e.code === 409) return;
      if (e.code !== 422 || !/already allocated/.test(e.message)) throw e;
    }
    // The IP is claimed: by the Service (done), or by a server between its claim and its create.
    const exists = await reg.get(service, 'kube-system', 'kube-dns').then(
      () => true,
      () => false,
    );
    if (exists) return;
    if (attempt === 20) {
      // Not fatal: the allocator's repair loop frees a leaked claim, and the next start retries.
      console.error(`kube-dns: the cluster DNS address ${ip} is allocated but no kube-dns Service holds it`);
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
