// Pods' resolv.conf per dnsPolicy as upstream's kubelet writes it: a table of pod specs and the
// servers, search list and options each gets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dnsConfig, type NodeSettings } from '../../agent/kubelet/pod-spec.ts';

const node: NodeSettings = {
  nodeName: 'n1',
  clusterDNS: '10.96.0.10',
  clusterDomain: 'cluster.local',
  logRoot: '/logs',
  hostResolv: {
    servers: ['192.168.1.1', '192.168.1.2'],
    searches: ['corp.example.', 'lab.example'],
    options: ['edns0', 'ndots:1'],
  },
};
const CLUSTER_SEARCH = ['app.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example', 'lab.example'];
const HOST = {
  servers: ['192.168.1.1', '192.168.1.2'],
  searches: ['corp.example', 'lab.example'],
  options: ['edns0', 'ndots:1'],
};

const table: [string, Record<string, unknown>, { servers: string[]; searches: string[]; options: string[] }][] = [
  ['no policy: ClusterFirst', {}, { servers: ['10.96.0.10'], searches: CLUSTER_SEARCH, options: ['ndots:5'] }],
  [
    'ClusterFirst',
    { dnsPolicy: 'ClusterFirst' },
    { servers: ['10.96.0.10'], searches: CLUSTER_SEARCH, options: ['ndots:5'] },
  ],
  ['ClusterFirst on the host network: the host resolv.conf', { dnsPolicy: 'ClusterFirst', hostNetwork: true }, HOST],
  [
    'ClusterFirstWithHostNet on the host network',
    { dnsPolicy: 'ClusterFirstWithHostNet', hostNetwork: true },
    { servers: ['10.96.0.10'], searches: CLUSTER_SEARCH, options: ['ndots:5'] },
  ],
  ['Default', { dnsPolicy: 'Default' }, HOST],
  [
    'None with dnsConfig',
    {
      dnsPolicy: 'None',
      dnsConfig: {
        nameservers: ['9.9.9.9'],
        searches: ['x.example'],
        options: [{ name: 'ndots', value: '2' }, { name: 'rotate' }],
      },
    },
    { servers: ['9.9.9.9'], searches: ['x.example'], options: ['ndots:2', 'rotate'] },
  ],
  [
    'ClusterFirst with dnsConfig: appended, duplicates dropped, ndots overridden by name',
    {
      dnsConfig: {
        nameservers: ['10.96.0.10', '1.1.1.1', '8.8.8.8', '8.8.4.4'],
        searches: ['svc.cluster.local', 'extra.example'],
        options: [
          { name: 'ndots', value: '2' },
          { name: 'timeout', value: '1' },
        ],
      },
    },
    {
      servers: ['10.96.0.10', '1.1.1.1', '8.8.8.8'],
      searches: [...CLUSTER_SEARCH, 'extra.example'],
      options: ['ndots:2', 'timeout:1'],
    },
  ],
  [
    'search list cut at 32 domains',
    { dnsPolicy: 'None', dnsConfig: { searches: Array.from({ length: 40 }, (_, i) => `d${i}.example`) } },
    { servers: [], searches: Array.from({ length: 32 }, (_, i) => `d${i}.example`), options: [] },
  ],
];

for (const [name, spec, want] of table)
  test(`resolv.conf: ${name}`, () => {
    assert.deepEqual(
      dnsConfig({ metadata: { name: 'p', namespace: 'app' }, spec: { containers: [], ...spec } }, node),
      want,
    );
  });
