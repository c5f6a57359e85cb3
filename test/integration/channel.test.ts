// The push channel's network view against a real server on loopback, with a real node credential
// and kubectl: every agent gets all Nodes, Services, EndpointSlices, Ingresses, IngressClasses and
// NetworkPolicies; of Secrets only its pods' and the TLS Secrets Ingresses name; a Secret that
// stops being referenced leaves the view; a resumed agent gets changes without a new snapshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startTestServer } from '../helpers/server.ts';
import { until } from '../helpers/sandbox.ts';
import { joinCluster } from '../../agent/join.ts';
import { ChannelClient } from '../../agent/channel.ts';
import type { NetworkChange } from '../../agent/network/view.ts';

const OBJECTS =
  `
apiVersion: v1
kind: Node
metadata: {name: node1}
spec: {podCIDR: 10.244.1.0/24}
---
apiVersion: v1
kind: Node
metadata: {name: node2}
spec: {podCIDR: 10.244.2.0/24}
---
apiVersion: v1
kind: Secret
metadata: {name: pod-secret}
stringData: {k: v}
---
apiVersion: v1
kind: Secret
metadata: {name: other-node-secret}
stringData: {k: v}
---
apiVersion: v1
kind: Secret
metadata: {name: unrelated}
stringData: {k: v}
---
apiVersion: v1
kind: Secret
metadata: {name: opaque-named-by-ingress}
stringData: {k: v}
---
apiVersion: v1
kind: Secret
metadata: {name: tls1}
type: kubernetes.io/tls
stringData: {tls.crt: c1, tls.key: k1}
---
apiVersion: v1
kind: Secret
metadata: {name: tls2}
type: kubernetes.io/tls
stringData: {tls.crt: c2, tls.key: k2}
---
apiVersion: v1
kind: Pod
metadata: {name: mine}
spec:
  nodeName: node1
  containers: [{name: c, image: skiff.local/busybox:1.36, env: [{name: X, valueFrom: {secretKeyRef: ` +
  `{name: pod-secret, key: k}}}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: theirs}
spec:
  nodeName: node2
  containers: [{name: c, image: skiff.local/busybox:1.36, env: [{name: X, valueFrom: {secretKeyRef: ` +
  `{name: other-node-secret, key: k}}}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: skiff}
spec: {controller: skiff.io/ingress}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: one}
spec:
  tls: [{hosts: [a.example], secretName: tls1}, {hosts: [c.example], secretName: opaque-named-by-ingress}]
  rules: [{host: a.example, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, ` +
  `port: {number: 80}}}}]}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: two}
spec:
  tls: [{hosts: [b.example], secretName: tls2}]
  rules: [{host: b.example, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, ` +
  `port: {number: 80}}}}]}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny}
spec: {podSelector: {}, policyTypes: [Ingress]}
`;

test('the network view: everything networking needs, only the Secrets this node may see, resumable', async () => {
  const s = await startTestServer();
  const clients: ChannelClient[] = [];
  try {
    const k = async (args: string[], input?: string) => {
      const r = await s.kubectl(args, { input });
      assert.equal(r.exitCode, 0, r.stderr);
      return r.stdout;
    };
    await k(['apply', '-f', '-'], OBJECTS);
    const creds = await joinCluster(s.server.url, s.server.joinToken, 'node1', join(s.dir, 'node1'));
    const target = `127.0.0.1:${s.server.channelPort}`;
    const connect = (rv = '') => {
      const c = new ChannelClient(target, creds.ca, creds.token, 'node1', () => {});
      c.state.resourceVersion = rv;
      const seen: NetworkChange[] = [];
      c.network.subscribe((ch) => seen.push(...ch));
      clients.push(c);
      c.start();
      return { c, seen };
    };

    const { c, seen } = connect();
    const v = c.network;
    await until('the snapshot', async () => v.synced, 15_000);
    assert.deepEqual([...v.nodes.keys()].sort(), ['node1', 'node2']);
    assert.equal(v.nodes.get('node2')?.spec?.podCIDR, '10.244.2.0/24');
    assert.ok(v.services.has('default/web') && v.services.has('default/kubernetes'));
    assert.ok(v.ingresses.has('default/one') && v.ingresses.has('default/two'));
    assert.ok(v.ingressClasses.has('skiff'));
    assert.ok(v.networkPolicies.has('default/deny'));
    assert.deepEqual([...v.secrets.keys()].sort(), ['default/pod-secret', 'default/tls1', 'default/tls2']);
    assert.deepEqual([...c.state.pods.keys()], ['default/mine'], "never another node's pods");
    assert.ok(
      seen.some((x) => x.kind === 'nodes' && x.key === 'node1'),
      'subscribers hear of the snapshot',
    );

    // Changes arrive as they happen; a Secret no Ingress names any more leaves the view.
    seen.length = 0;
    await k(['create', 'service', 'clusterip', 'late', '--tcp=81:81']);
    await until('the new Service', async () => v.services.has('default/late'), 10_000);
    assert.ok(seen.some((x) => x.kind === 'services' && x.key === 'default/late'));
    await k(['delete', 'ingress', 'one']);
    await until(
      'tls1 retracted',
      async () => !v.secrets.has('default/tls1') && !v.ingresses.has('default/one'),
      10_000,
    );
    assert.ok(seen.some((x) => x.kind === 'secrets' && x.key === 'default/tls1'));
    await k(['label', 'node', 'node2', 'x=y']);
    await until('the Node change', async () => v.nodes.get('node2')?.metadata.labels?.x === 'y', 10_000);
    // An unrelated Secret changing is never sent, a pod-referenced one is.
    await k(['label', 'secret', 'unrelated', 'x=y']);
    await k(['label', 'secret', 'pod-secret', 'x=y']);
    await until('the pod Secret change', async () => v.secrets.get('default/pod-secret')?.metadata.labels?.x === 'y');
    assert.ok(!v.secrets.has('default/unrelated') && !c.state.secrets.has('default/unrelated'));
    const rv = await until('a bookmark', async () => c.state.resourceVersion !== '' && c.state.resourceVersion, 15_000);
    c.stop();

    // While the agent is away: a Service goes, an Ingress naming an Opaque Secret comes.
    await k(['delete', 'service', 'late']);
    await k(
      ['apply', '-f', '-'],
      `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: three}
spec:
  tls: [{secretName: unrelated}]
  rules: [{host: d.example, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, ` +
        `port: {number: 80}}}}]}}]
`,
    );
    const again = connect(rv);
    const v2 = again.c.network;
    await until('the changes since the bookmark', async () => v2.ingresses.has('default/three'), 10_000);
    assert.ok(
      again.seen.some((x) => x.kind === 'services' && x.key === 'default/late'),
      'the deletion arrives',
    );
    assert.equal(v2.synced, false, 'no new snapshot on resume');
    assert.ok(
      !v2.ingressClasses.has('skiff') && !v2.networkPolicies.has('default/deny'),
      'nothing unchanged since the resume point is sent again',
    );
    assert.ok(!v2.secrets.has('default/unrelated'), 'an Opaque Secret named by an Ingress is not sent');
    // The resumed stream knows what the agent holds: tls2 is not sent again, and is retracted
    // when its Ingress goes.
    assert.ok(!again.seen.some((x) => x.key === 'default/tls2'), 'tls2 is not sent again');
    again.seen.length = 0;
    await k(['delete', 'ingress', 'two']);
    await until('tls2 retracted', async () => again.seen.some((x) => x.kind === 'secrets' && x.key === 'default/tls2'));
  } finally {
    for (const c of clients) c.stop();
    await s.stop();
  }
});
