// The server's side of the ingress: the built-in `skiff` IngressClass exists after start-up, and
// the status loop lists the Ready nodes' addresses on Skiff's Ingresses (and only on those).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, startTestServer } from '../helpers/server.ts';
import { api } from '../helpers/http.ts';
import { until } from '../helpers/sandbox.ts';

test('built-in IngressClass, and Ingress status follows the Ready nodes', async () => {
  const s = await startTestServer();
  try {
    const c = credentials(s.kubeconfig);
    const cls = await s.kubectl(['get', 'ingressclass', 'skiff', '-o', 'json']);
    assert.equal(cls.exitCode, 0, cls.stderr);
    const ic = JSON.parse(cls.stdout);
    assert.equal(ic.spec.controller, 'skiff.io/ingress');
    assert.equal(ic.metadata.annotations['ingressclass.kubernetes.io/is-default-class'], 'true');

    const node = async (name: string, ip: string, ready: boolean) => {
      await api(c, 'POST', '/api/v1/nodes', JSON.stringify({ metadata: { name } }));
      const r = await api(
        c,
        'PATCH',
        `/api/v1/nodes/${name}/status`,
        JSON.stringify({
          status: {
            addresses: [{ type: 'InternalIP', address: ip }],
            conditions: [
              {
                type: 'Ready',
                status: ready ? 'True' : 'False',
                reason: 'Test',
                lastHeartbeatTime: new Date().toISOString(),
              },
            ],
          },
        }),
        { 'Content-Type': 'application/merge-patch+json' },
      );
      assert.equal(r.status, 200, r.body);
    };
    await node('n2', '10.250.0.12', true);
    await node('n1', '10.250.0.11', true);
    await node('n3', '10.250.0.13', false);
    const ing = (name: string, cls?: string) => `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ${name}}
spec:
  ${cls ? `ingressClassName: ${cls}` : 'rules: []'}
  defaultBackend: {service: {name: web, port: {number: 80}}}
`;
    for (const [n, cl] of [
      ['ours', undefined],
      ['theirs', 'nginx'],
    ] as const) {
      const r = await s.kubectl(['apply', '-f', '-'], { input: ing(n, cl) });
      assert.equal(r.exitCode, 0, r.stderr);
    }
    const addresses = async (name: string) => {
      const r = await s.kubectl(['get', 'ingress', name, '-o', 'jsonpath={.status.loadBalancer.ingress[*].ip}']);
      return r.stdout.trim();
    };
    assert.equal(
      await until(
        'the Ready nodes on the Ingress',
        async () => {
          const a = await addresses('ours');
          return a === '10.250.0.11 10.250.0.12' && a;
        },
        20_000,
      ),
      '10.250.0.11 10.250.0.12',
    );
    await node('n3', '10.250.0.13', true);
    await until(
      'a node that became Ready is added',
      async () => (await addresses('ours')) === '10.250.0.11 10.250.0.12 10.250.0.13',
      20_000,
    );
    await node('n1', '10.250.0.11', false);
    await until(
      'a NotReady node is removed',
      async () => (await addresses('ours')) === '10.250.0.12 10.250.0.13',
      20_000,
    );
    assert.equal(await addresses('theirs'), '', 'an Ingress of another class is left alone');
    const wide = await s.kubectl(['get', 'ingress', 'ours']);
    assert.match(wide.stdout, /10\.250\.0\.12,10\.250\.0\.13/);
  } finally {
    await s.stop();
  }
});
