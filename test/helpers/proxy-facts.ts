// The node the proxy's unit tests program: node n1 of a cluster with the default ranges.
import type { ProxyNodeFacts } from '../../agent/proxy/render.ts';

export const n1Facts: ProxyNodeFacts = {
  nodeName: 'n1',
  nodeIPs: ['192.168.50.11'],
  podCIDR: '10.244.1.0/24',
  clusterCIDR: '10.244.0.0/16',
  serviceCIDR: '10.96.0.0/12',
  clusterDNS: '10.96.0.10',
};
