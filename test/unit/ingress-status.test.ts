// Which addresses an Ingress's status lists: Skiff's Ingresses get the Ready nodes' InternalIPs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Ingress, IngressClass, Node } from '../../controlplane/shared/kube/index.ts';
import { renderIngressStatus } from '../../controlplane/controllers/ingress-status.ts';

const node = (
  name: string,
  ip: string | undefined,
  ready: 'True' | 'False' | 'Unknown',
  extra: Partial<Node['metadata']> = {},
): Node => ({
  metadata: { name, ...extra },
  status: {
    addresses: ip
      ? [
          { type: 'InternalIP', address: ip },
          { type: 'Hostname', address: name },
        ]
      : [],
    conditions: [{ type: 'Ready', status: ready }],
  },
});
const skiff: IngressClass = {
  metadata: { name: 'skiff', annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } },
  spec: { controller: 'skiff.io/ingress' },
};
const other: IngressClass = { metadata: { name: 'nginx' }, spec: { controller: 'k8s.io/ingress-nginx' } };
const ing = (cls?: string, extra: Partial<Ingress['metadata']> = {}): Ingress => ({
  metadata: { name: 'i', namespace: 'default', ...extra },
  spec: cls ? { ingressClassName: cls } : {},
});

test('status lists the Ready nodes by InternalIP in address order, for Skiff’s Ingresses only', () => {
  const nodes = [
    node('a', '10.0.0.10', 'True'),
    node('b', '10.0.0.9', 'True'),
    node('c', '10.0.0.11', 'False'),
    node('d', '10.0.0.12', 'Unknown'),
    node('e', undefined, 'True'),
    node('f', '10.0.0.13', 'True', { deletionTimestamp: '2026-01-01T00:00:00Z' }),
  ];
  const cases: [string, Ingress, IngressClass[], string[] | undefined][] = [
    ['default class', ing(), [skiff, other], ['10.0.0.9', '10.0.0.10']],
    ['by name', ing('skiff'), [other, { ...skiff, metadata: { name: 'skiff' } }], ['10.0.0.9', '10.0.0.10']],
    ['other class', ing('nginx'), [skiff, other], undefined],
    ['no class, no default', ing(), [{ ...skiff, metadata: { name: 'skiff' } }], undefined],
    ['being deleted', ing(undefined, { deletionTimestamp: '2026-01-01T00:00:00Z' }), [skiff], undefined],
  ];
  for (const [what, i, classes, want] of cases)
    assert.deepEqual(
      renderIngressStatus(i, classes, nodes)?.map((x) => x.ip),
      want,
      what,
    );
  assert.deepEqual(renderIngressStatus(ing(), [skiff], []), []);
});
