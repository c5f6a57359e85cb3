// Which ConfigMaps and Secrets the push channel may send a node: those its pods use (volumes,
// projected sources, env, envFrom, image pull secrets, in every kind of container) and the TLS
// Secrets its Ingresses name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ingressTlsRefs, podRefs } from '../../controlplane/channel/refs.ts';

test('a pod references ConfigMaps and Secrets from volumes, env and pull secrets of every container', () => {
  const refs = podRefs({
    metadata: { namespace: 'ns' },
    spec: {
      volumes: [
        { name: 'a', configMap: { name: 'c1' } },
        { name: 'b', secret: { secretName: 's1' } },
        { name: 'c', projected: { sources: [{ secret: { name: 's2' } }, { configMap: { name: 'c3' } }] } },
      ],
      initContainers: [{ name: 'init', envFrom: [{ secretRef: { name: 's4' } }] }],
      containers: [
        {
          name: 'c',
          env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 's3', key: 'k' } } }],
          envFrom: [{ configMapRef: { name: 'c2' } }],
        },
      ],
      ephemeralContainers: [
        { name: 'debug', env: [{ name: 'Y', valueFrom: { configMapKeyRef: { name: 'c4', key: 'k' } } }] },
      ],
      imagePullSecrets: [{ name: 'pull' }],
    },
  });
  assert.deepEqual([...refs.configMaps].sort(), ['ns/c1', 'ns/c2', 'ns/c3', 'ns/c4']);
  assert.deepEqual([...refs.secrets].sort(), ['ns/pull', 'ns/s1', 'ns/s2', 'ns/s3', 'ns/s4']);
});

test("an Ingress references the Secrets its TLS entries name, in the Ingress's namespace", () => {
  const refs = ingressTlsRefs({
    metadata: { namespace: 'web', name: 'i' },
    spec: { tls: [{ hosts: ['a.example'], secretName: 'a-tls' }, { hosts: ['b.example'] }] },
  });
  assert.deepEqual([...refs], ['web/a-tls']);
});
