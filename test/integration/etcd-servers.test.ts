// Several skiff servers on one etcd: allocations are never handed out twice, and state is shared.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEtcd } from '../helpers/etcd.ts';
import { credentials, startTestServer } from '../helpers/server.ts';
import { api } from '../helpers/http.ts';
import { request } from 'node:https';

test('two servers on one etcd share objects and never allocate one ClusterIP or NodePort twice', async () => {
  const etcd = await startEtcd(1);
  const a = await startTestServer({ datastoreEndpoint: etcd.endpoints.join(',') });
  const b = await startTestServer({
    datastoreEndpoint: etcd.endpoints.join(','),
    serviceNodePortRange: '30000-30059',
    token: a.server.joinToken,
  });
  try {
    const ca = credentials(a.kubeconfig),
      cb = credentials(b.kubeconfig);
    const make = (base: typeof ca, i: number) =>
      api(
        base,
        'POST',
        '/api/v1/namespaces/default/services',
        JSON.stringify({ metadata: { name: `s${i}` }, spec: { type: 'NodePort', ports: [{ port: 80 }] } }),
      );
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => make(i % 2 ? ca : cb, i)));
    for (const r of results) assert.equal(r.status, 201, r.body);
    const list = (await api(ca, 'GET', '/api/v1/namespaces/default/services')).json().items;
    assert.equal(list.length, 41, 'both servers see all services');
    // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
    const ips = list.map((s: any) => s.spec.clusterIP);
    assert.equal(new Set(ips).size, ips.length, 'unique ClusterIPs');
    // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
    const ports = list.flatMap((s: any) => (s.spec.ports ?? []).map((p: any) => p.nodePort)).filter(Boolean);
    assert.equal(new Set(ports).size, ports.length, 'unique NodePorts');
    const taken = list[1].spec.clusterIP;
    const dup = await api(
      cb,
      'POST',
      '/api/v1/namespaces/default/services',
      JSON.stringify({ metadata: { name: 'dup' }, spec: { clusterIP: taken, ports: [{ port: 80 }] } }),
    );
    assert.equal(dup.status, 422);
    // Watch from the list's revision, so no initial list: an ADDED can only come from the watch.
    const rv = (await api(ca, 'GET', '/api/v1/namespaces/default/configmaps')).json().metadata.resourceVersion;
    const watched = await new Promise<string>((resolve, reject) => {
      const req = request(
        `${ca.server}/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=${rv}&timeoutSeconds=10`,
        { ca: ca.ca, headers: { Authorization: `Bearer ${ca.token}` }, timeout: 15_000 },
        (res) => {
          let body = '';
          res.on('data', (c) => {
            body += c;
            if (/"name":"from-b"/.test(body)) {
              req.destroy();
              resolve(body);
            }
          });
          res.on('end', () => resolve(body));
          // The watch is established: now write through the other server.
          void api(
            cb,
            'POST',
            '/api/v1/namespaces/default/configmaps',
            JSON.stringify({ metadata: { name: 'from-b' } }),
          );
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.match(watched, /"type":"ADDED".*"name":"from-b"/, 'a watch on one server sees a write through the other');
  } finally {
    await a.stop();
    await b.stop();
    await etcd.stop();
  }
});
