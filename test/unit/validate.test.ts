import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  dnsLabelErrors,
  dnsSubdomainErrors,
  labelValueErrors,
  qualifiedNameErrors,
  validateKind,
  validateMeta,
} from '../../controlplane/api/validate.ts';
import { applyDefaults, imagePullPolicyFor } from '../../controlplane/api/defaults.ts';
import { qosClass } from '../../controlplane/shared/resources.ts';
import { checkSchema, pruneUnknown, type FieldProblem } from '../../controlplane/api/schema/check.ts';
import { Pod } from '../../controlplane/api/schema/core.ts';
import { Errs } from '../../controlplane/api/status.ts';
import type { Pod as PodObject, Service } from '../../controlplane/shared/kube/index.ts';

test('names, label keys and values', () => {
  const ok = (e: string | null) => e === null;
  assert.ok(ok(dnsLabelErrors('web-1')));
  for (const bad of ['Web', '-a', 'a-', 'a.b', 'a'.repeat(64), 'a_b']) assert.ok(!ok(dnsLabelErrors(bad)), bad);
  assert.ok(ok(dnsSubdomainErrors('a.b-c.d')));
  assert.ok(!ok(dnsSubdomainErrors('a..b')));
  for (const good of ['app', 'example.com/app', 'a_b.c-d', 'k8s.io/x']) assert.ok(ok(qualifiedNameErrors(good)), good);
  for (const bad of ['/a', 'a/', 'a/b/c', '-a', 'Ex ample/a']) assert.ok(!ok(qualifiedNameErrors(bad)), bad);
  for (const good of ['', 'v1', 'a.b_c-d']) assert.ok(ok(labelValueErrors(good)), good);
  for (const bad of ['-v', 'v ', 'a'.repeat(64)]) assert.ok(!ok(labelValueErrors(bad)), bad);
});

test('metadata validation lists every bad field', () => {
  const errs = new Errs();
  validateMeta('ConfigMap', { name: 'Bad_Name', labels: { ok: 'x', 'b@d': 'y', good: '-bad' } }, true, errs);
  assert.deepEqual(errs.list.map((e) => e.field).sort(), [
    'metadata.labels',
    'metadata.labels',
    'metadata.name',
    'metadata.namespace',
  ]);
});

test('pod and service rules', () => {
  const pod = (spec: object) => {
    const e = new Errs();
    validateKind('Pod', { spec }, e);
    return e.list.map((x) => x.field);
  };
  assert.deepEqual(pod({ containers: [{ name: 'a', image: 'i' }] }), []);
  assert.deepEqual(pod({ containers: [] }), ['spec.containers']);
  assert.deepEqual(
    pod({
      containers: [
        { name: 'a', image: 'i' },
        { name: 'a', image: 'i' },
      ],
    }),
    ['spec.containers[1].name'],
  );
  assert.deepEqual(pod({ containers: [{ name: 'a', image: 'i', volumeMounts: [{ name: 'v', mountPath: '/x' }] }] }), [
    'spec.containers[0].volumeMounts[0].name',
  ]);
  assert.deepEqual(pod({ containers: [{ name: 'a', image: 'i', ports: [{ containerPort: 70000 }] }] }), [
    'spec.containers[0].ports[0].containerPort',
  ]);
  const svc = (spec: object) => {
    const e = new Errs();
    validateKind('Service', { spec }, e);
    return e.list.map((x) => x.field);
  };
  assert.deepEqual(svc({ type: 'ClusterIP', ports: [{ port: 80, protocol: 'TCP' }] }), []);
  assert.deepEqual(svc({ type: 'ClusterIP', ports: [] }), ['spec.ports']);
  assert.deepEqual(
    svc({
      type: 'ClusterIP',
      ports: [
        { port: 80, protocol: 'TCP' },
        { port: 81, protocol: 'TCP' },
      ],
    }),
    ['spec.ports[0].name', 'spec.ports[1].name'],
  );
  assert.deepEqual(svc({ type: 'ExternalName', externalName: 'db.example.com' }), []);
  assert.deepEqual(svc({ type: 'ExternalName' }), ['spec.externalName']);
  // A label over 63 characters fits the subdomain pattern but not DNS's wire format.
  assert.deepEqual(svc({ type: 'ExternalName', externalName: `${'a'.repeat(63)}.example.com.` }), []);
  assert.deepEqual(svc({ type: 'ExternalName', externalName: `${'a'.repeat(64)}.example.com` }), ['spec.externalName']);
});

test('defaults users rely on', () => {
  const svc: Service = { metadata: { name: 's' }, spec: { ports: [{ port: 80 }] } };
  applyDefaults('Service', svc);
  assert.equal(svc.spec.type, 'ClusterIP');
  assert.equal(svc.spec.sessionAffinity, 'None');
  assert.deepEqual(svc.spec.ports?.[0], { port: 80, protocol: 'TCP', targetPort: 80 });
  const pod: PodObject = {
    metadata: { name: 'p' },
    spec: { containers: [{ name: 'c', image: 'busybox', resources: { limits: { cpu: '1', memory: '1Gi' } } }] },
  };
  applyDefaults('Pod', pod);
  assert.equal(pod.spec.restartPolicy, 'Always');
  assert.equal(pod.spec.dnsPolicy, 'ClusterFirst');
  assert.equal(pod.spec.terminationGracePeriodSeconds, 30);
  assert.equal(pod.spec.schedulerName, 'default-scheduler');
  assert.equal(pod.spec.containers[0].imagePullPolicy, 'Always');
  assert.equal(pod.spec.containers[0].terminationMessagePath, '/dev/termination-log');
  assert.equal(pod.status?.qosClass, 'Guaranteed', 'limits without requests make requests equal');
  assert.equal(imagePullPolicyFor('skiff.local/busybox:1.0'), 'IfNotPresent');
  assert.equal(imagePullPolicyFor('localhost:5000/x'), 'Always');
  assert.equal(qosClass([{}]), 'BestEffort');
  assert.equal(qosClass([{ requests: { cpu: '100m' } }]), 'Burstable');
});

test('strict structural check names unknown fields and wrong types; prune drops unknown ones', () => {
  const body = {
    metadata: { name: 'p', labelz: {} },
    spec: { containers: [{ name: 'c', image: 'i', imagePullPolicy: 'Sometimes', ports: 'x' }], nodeName: 3 },
  };
  const out: FieldProblem[] = [];
  checkSchema(body, Pod, '', out);
  const got = out.map((p) => `${p.kind} ${p.path}`).sort();
  assert.deepEqual(got, [
    'type spec.containers[0].imagePullPolicy',
    'type spec.containers[0].ports',
    'type spec.nodeName',
    'unknown metadata.labelz',
  ]);
  assert.deepEqual(pruneUnknown({ metadata: { name: 'p', labelz: 1 }, extra: true }, Pod), { metadata: { name: 'p' } });
});
