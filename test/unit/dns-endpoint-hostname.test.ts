// EndpointSlices carry a pod's hostname when its subdomain names the Service (StatefulSet pods'
// stable DNS names, web-0.web.ns.svc.cluster.local, come from this).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endpointGroups } from '../../controlplane/controllers/endpoints-plan.ts';

const svc = { metadata: { name: 'web', namespace: 'ns' }, spec: { clusterIP: 'None', selector: { app: 'w' } } };
const pod = (name: string, spec: Record<string, unknown>) => ({
  metadata: { name, namespace: 'ns', uid: name, labels: { app: 'w' } },
  spec: { nodeName: 'n1', ...spec },
  status: { phase: 'Running', podIP: `10.244.1.${name.length}`, conditions: [{ type: 'Ready', status: 'True' }] },
});

test('endpoint hostname: set from spec.hostname only when spec.subdomain is the Service', () => {
  const groups = endpointGroups(
    svc,
    [
      pod('web-0', { hostname: 'web-0', subdomain: 'web' }),
      pod('other-1', { hostname: 'x', subdomain: 'other' }),
      pod('p', {}),
    ],
    new Map(),
  );
  const byPod = new Map(groups[0].endpoints.map((e) => [e.targetRef.name, e.hostname]));
  assert.equal(byPod.get('web-0'), 'web-0');
  assert.equal(byPod.get('other-1'), undefined);
  assert.equal(byPod.get('p'), undefined);
});
