import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeProtobuf, ProtobufError } from '../../controlplane/api/protobuf/decode.ts';
import type { Deployment, Pod, Secret, Service } from '../../controlplane/shared/kube/index.ts';

/** The decoded object, read as the kind the envelope names (what the tests check field by field). */
const decodeAs = <T>(b: Buffer) => decodeProtobuf(b) as unknown as T;

// A tiny protobuf writer for building test envelopes.
const varint = (n: number) => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return Buffer.from(out);
};
const field = (num: number, v: Buffer | string | number) =>
  typeof v === 'number'
    ? Buffer.concat([varint(num << 3), varint(v)])
    : Buffer.concat([varint((num << 3) | 2), varint(Buffer.byteLength(v)), Buffer.from(v)]);
const msg = (...parts: Buffer[]) => Buffer.concat(parts);
const envelope = (apiVersion: string, kind: string, raw: Buffer) =>
  Buffer.concat([
    Buffer.from('k8s\0', 'binary'),
    field(1, msg(field(1, apiVersion), field(2, kind))),
    field(2, raw),
    field(3, ''),
    field(4, ''),
  ]);

test('decodes a ConfigMap the way Go writes it (empty non-pointer fields included)', () => {
  const meta = msg(
    field(1, 'c1'),
    field(2, ''),
    field(3, 'ns'),
    field(7, 0),
    field(8, ''),
    field(11, msg(field(1, 'app'), field(2, 'x'))),
  );
  const raw = msg(field(1, meta), field(2, msg(field(1, 'k'), field(2, 'v'))));
  assert.deepEqual(decodeProtobuf(envelope('v1', 'ConfigMap', raw)), {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'c1', namespace: 'ns', labels: { app: 'x' } },
    data: { k: 'v' },
  });
});

test('pointer fields keep zero; IntOrString and bytes decode to their JSON forms', () => {
  const spec = msg(field(1, 0), field(2, msg(field(1, msg(field(1, 'a'), field(2, 'b'))))));
  const d = decodeAs<Deployment>(envelope('apps/v1', 'Deployment', msg(field(1, field(1, 'd')), field(2, spec))));
  assert.equal(d.spec.replicas, 0);
  const port = msg(field(3, 80), field(4, msg(field(1, 1), field(3, 'http'))));
  const svc = decodeAs<Service>(envelope('v1', 'Service', msg(field(1, field(1, 's')), field(2, field(1, port)))));
  assert.deepEqual(svc.spec.ports, [{ port: 80, targetPort: 'http' }]);
  const sec = decodeAs<Secret>(
    envelope(
      'v1',
      'Secret',
      msg(field(1, field(1, 's')), field(2, msg(field(1, 'k'), field(2, Buffer.from([0, 1, 2]))))),
    ),
  );
  assert.equal(sec.data?.k, 'AAEC');
});

test('unknown non-empty fields, unknown kinds and garbage are refused, never dropped', () => {
  assert.throws(
    () => decodeProtobuf(envelope('v1', 'ConfigMap', msg(field(1, field(1, 'c')), field(99, 'surprise')))),
    /field 99 of ConfigMap/,
  );
  assert.throws(() => decodeProtobuf(envelope('v1', 'Frobnicator', Buffer.alloc(0))), /not supported/);
  assert.throws(() => decodeProtobuf(Buffer.from('{"json":true}')), ProtobufError);
  assert.throws(
    () => decodeProtobuf(Buffer.concat([Buffer.from('k8s\0', 'binary'), Buffer.from([0x0a, 0x50, 0x01])])),
    ProtobufError,
  );
});

test('a Pod as kubectl debug sends it: volumes (emptyDir {} kept), mounts, probes, security contexts', () => {
  const volumes = [
    field(1, msg(field(1, 'host-root'), field(2, field(1, msg(field(1, '/'), field(2, '')))))),
    field(1, msg(field(1, 'scratch'), field(2, field(2, '')))),
    field(1, msg(field(1, 'cfg'), field(2, field(19, msg(field(1, field(1, 'app-config')), field(3, 420)))))),
  ];
  const probe = msg(field(1, field(2, msg(field(1, '/healthz'), field(2, msg(field(1, 0), field(2, 8080)))))));
  const container = msg(
    field(1, 'debugger'),
    field(2, 'skiff.local/busybox:1.36'),
    field(9, msg(field(1, 'host-root'), field(3, '/host'))),
    field(10, probe),
    field(15, msg(field(2, 1), field(1, msg(field(1, 'NET_ADMIN'))))),
    field(16, 1),
    field(18, 1),
    field(7, msg(field(1, 'POD'), field(3, field(1, msg(field(2, 'metadata.name')))))),
  );
  const spec = msg(
    ...volumes,
    field(2, container),
    field(10, 'node1'),
    field(12, 1),
    field(14, field(4, Buffer.from([0x01, 0x02]))), // supplementalGroups, packed
    field(22, msg(field(2, 'Exists'))),
  );
  const pod = decodeAs<Pod>(envelope('v1', 'Pod', msg(field(1, field(1, 'dbg')), field(2, spec))));
  assert.deepEqual(pod.spec, {
    volumes: [
      { name: 'host-root', hostPath: { path: '/', type: '' } },
      { name: 'scratch', emptyDir: {} },
      { name: 'cfg', configMap: { name: 'app-config', defaultMode: 420 } },
    ],
    containers: [
      {
        name: 'debugger',
        image: 'skiff.local/busybox:1.36',
        volumeMounts: [{ name: 'host-root', mountPath: '/host' }],
        livenessProbe: { httpGet: { path: '/healthz', port: 8080 } },
        securityContext: { privileged: true, capabilities: { add: ['NET_ADMIN'] } },
        stdin: true,
        tty: true,
        env: [{ name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
      },
    ],
    nodeName: 'node1',
    hostPID: true,
    securityContext: { supplementalGroups: [1, 2] },
    tolerations: [{ operator: 'Exists' }],
  });
});
