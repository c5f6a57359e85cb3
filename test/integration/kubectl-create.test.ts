// kubectl's typed `create` commands send protobuf: each object must arrive as kubectl meant it,
// checked against what the same command prints with --dry-run=client -o json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startTestServer } from '../helpers/server.ts';

/** Every field of `want` is in `got` with the same value (the server adds defaults). */
// biome-ignore lint/suspicious/noExplicitAny: compares any two JSON documents, walking both
function contains(got: any, want: any, path = ''): string[] {
  if (want === null || typeof want !== 'object')
    return got === want ? [] : [`${path}: want ${JSON.stringify(want)} got ${JSON.stringify(got)}`];
  if (Array.isArray(want)) {
    if (!Array.isArray(got) || got.length !== want.length)
      return [`${path}: want ${want.length} items, got ${JSON.stringify(got)}`];
    return want.flatMap((w, i) => contains(got[i], w, `${path}[${i}]`));
  }
  return Object.entries(want).flatMap(([k, v]) => {
    if (
      k === 'creationTimestamp' ||
      k === 'status' ||
      (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0)
    )
      return [];
    return contains(got?.[k], v, `${path}.${k}`);
  });
}

test('objects kubectl create sends as protobuf are stored exactly as kubectl meant them', async () => {
  const s = await startTestServer();
  const tls = join(s.dir, 'data', 'tls');
  const cases: [string[], string][] = [
    [['create', 'namespace', 'pb'], 'namespace/pb'],
    [['create', 'configmap', 'c1', '-n', 'pb', '--from-literal=a=b', '--from-literal=c=d'], 'configmap/c1'],
    [['create', 'secret', 'generic', 's1', '-n', 'pb', '--from-literal=user=me'], 'secret/s1'],
    [['create', 'secret', 'tls', 't1', '-n', 'pb', `--cert=${tls}/server.crt`, `--key=${tls}/server.key`], 'secret/t1'],
    [
      [
        'create',
        'secret',
        'docker-registry',
        'd1',
        '-n',
        'pb',
        '--docker-username=u',
        '--docker-password=p',
        '--docker-server=r.example',
      ],
      'secret/d1',
    ],
    [
      [
        'create',
        'deployment',
        'web',
        '-n',
        'pb',
        '--image=skiff.local/busybox:1',
        '--replicas=3',
        '--port=8080',
        '--',
        'httpd',
        '-f',
        '-p',
        '8080',
      ],
      'deployment.apps/web',
    ],
    [
      ['create', 'deployment', 'zero', '-n', 'pb', '--image=skiff.local/busybox:1', '--replicas=0'],
      'deployment.apps/zero',
    ],
    [['create', 'service', 'nodeport', 'np', '-n', 'pb', '--tcp=80:8080', '--node-port=30123'], 'service/np'],
    [['create', 'service', 'clusterip', 'hl', '-n', 'pb', '--clusterip=None'], 'service/hl'],
    [['create', 'service', 'externalname', 'ext', '-n', 'pb', '--external-name=db.example.com'], 'service/ext'],
    [['create', 'job', 'j1', '-n', 'pb', '--image=skiff.local/busybox:1', '--', 'echo', 'hi'], 'job.batch/j1'],
    [
      [
        'create',
        'cronjob',
        'cj1',
        '-n',
        'pb',
        '--image=skiff.local/busybox:1',
        '--schedule=*/5 * * * *',
        '--',
        'echo',
        'hi',
      ],
      'cronjob.batch/cj1',
    ],
    [
      [
        'create',
        'ingress',
        'i1',
        '-n',
        'pb',
        '--class=skiff',
        '--rule=web.example/path*=svc:80,tls=sec',
        '--annotation=a=b',
      ],
      'ingress.networking.k8s.io/i1',
    ],
    [
      ['create', 'role', 'r1', '-n', 'pb', '--verb=get,list', '--resource=pods', '--resource-name=x'],
      'role.rbac.authorization.k8s.io/r1',
    ],
    [['create', 'clusterrole', 'cr1', '--verb=get', '--resource=nodes'], 'clusterrole.rbac.authorization.k8s.io/cr1'],
    [
      ['create', 'rolebinding', 'rb1', '-n', 'pb', '--role=r1', '--user=alice', '--serviceaccount=pb:sa1'],
      'rolebinding.rbac.authorization.k8s.io/rb1',
    ],
    [
      ['create', 'clusterrolebinding', 'crb1', '--clusterrole=cr1', '--group=ops'],
      'clusterrolebinding.rbac.authorization.k8s.io/crb1',
    ],
    [['create', 'serviceaccount', 'sa1', '-n', 'pb'], 'serviceaccount/sa1'],
    [
      ['create', 'poddisruptionbudget', 'p1', '-n', 'pb', '--selector=app=x', '--min-available=0'],
      'poddisruptionbudget.policy/p1',
    ],
  ];
  try {
    for (const [args, ref] of cases) {
      const cut = args.includes('--') ? args.indexOf('--') : args.length;
      const dry = await s.kubectl([...args.slice(0, cut), '--dry-run=client', '-o', 'json', ...args.slice(cut)]);
      assert.equal(dry.exitCode, 0, dry.stderr);
      const real = await s.kubectl(args);
      assert.equal(real.exitCode, 0, `${args.join(' ')}: ${real.stderr}`);
      const ns = args.includes('-n') ? ['-n', args[args.indexOf('-n') + 1]] : [];
      const got = await s.kubectl(['get', ref, ...ns, '-o', 'json']);
      assert.deepEqual(contains(JSON.parse(got.stdout), JSON.parse(dry.stdout)), [], args.join(' '));
    }
    const fromCron = await s.kubectl(['create', 'job', 'j2', '-n', 'pb', '--from=cronjob/cj1']);
    assert.equal(fromCron.exitCode, 0, fromCron.stderr);
    const j2 = JSON.parse((await s.kubectl(['get', 'job', 'j2', '-n', 'pb', '-o', 'json'])).stdout);
    assert.equal(j2.metadata.ownerReferences[0].kind, 'CronJob');
    assert.deepEqual(j2.spec.template.spec.containers[0].command, ['echo', 'hi']);
    const zero = JSON.parse((await s.kubectl(['get', 'deploy', 'zero', '-n', 'pb', '-o', 'json'])).stdout);
    assert.equal(zero.spec.replicas, 0, 'a pointer field set to zero stays zero');
  } finally {
    await s.stop();
  }
});
