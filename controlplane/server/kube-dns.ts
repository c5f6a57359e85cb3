// The kube-dns Service every cluster shows: selector-less, its ClusterIP the cluster DNS address
// that each agent answers on locally (see agent/dns). bootstrap.ts creates it idempotently.
import type { Service } from '../shared/kube/index.ts';

export function kubeDnsService(ip: string): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'kube-dns',
      namespace: 'kube-system',
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
