// The cluster resolver on its own, for tests and the benchmark: the zone comes from a JSON file
// ({ services, endpointSlices }) instead of the push channel. Prints `ready` once it answers and
// stops on SIGTERM. Usage: node agent/dns/standalone.ts ADDRESS PORT ZONE.json [UPSTREAMS] [--placement]
import { readFileSync } from 'node:fs';
import type { EndpointSlice, Service } from '../../controlplane/shared/kube/index.ts';
import { NetworkView, objectKey } from '../network/view.ts';
import { ClusterDNS } from './cluster-dns.ts';

const [address, port, zoneFile, upstreams] = process.argv.slice(2);
const data = JSON.parse(readFileSync(zoneFile, 'utf8')) as { services: Service[]; endpointSlices: EndpointSlice[] };
const view = new NetworkView();
for (const s of data.services) view.services.set(objectKey(s), s);
for (const s of data.endpointSlices) view.endpointSlices.set(objectKey(s), s);
view.synced = true;
const dns = new ClusterDNS({
  view,
  address,
  port: Number(port),
  domain: 'cluster.local',
  ttl: 5,
  // '-': no upstream at all (never the host's resolver from a test or a benchmark).
  upstreams: upstreams && upstreams !== '-' ? upstreams : '',
  placement: process.argv.includes('--placement'),
  log: (s) => console.error(s),
});
await dns.start();
console.log('ready');
process.on('SIGTERM', () => {
  void dns.stop().then(() => process.exit(0));
});
