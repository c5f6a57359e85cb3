// The agent's IngressController over a real NetworkView: listeners start empty (404), routes and
// endpoints arrive through the view and take effect at once on the same listener, and an
// Ingress of another class is not served.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EndpointSlice, Ingress } from '../../controlplane/shared/kube/index.ts';
import { IngressController } from '../../agent/ingress/controller.ts';
import { NetworkView } from '../../agent/network/view.ts';

const dir = mkdtempSync(join(tmpdir(), 'ing-ctl-'));
const servers: Server[] = [];
after(() => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

function backend(name: string): Promise<number> {
  const s = createServer((_req, res) => res.end(name));
  servers.push(s);
  return new Promise((ok) => s.listen(0, '127.0.0.1', () => ok((s.address() as AddressInfo).port)));
}

function get(port: number, host: string, agent: Agent | false = false): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host }, agent, timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

const slice = (port: number): EndpointSlice => ({
  metadata: { name: 'web-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4',
  endpoints: [{ addresses: ['127.0.0.1'] }],
  ports: [{ name: '', port, protocol: 'TCP' }],
});

const ingress = (name: string, host: string, cls?: string): Ingress => ({
  metadata: { name, namespace: 'default', uid: name },
  spec: {
    ingressClassName: cls,
    rules: [
      {
        host,
        http: {
          paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }],
        },
      },
    ],
  },
});

test('routes and endpoints from the view take effect on the running listener', async () => {
  const [v1, v2] = [await backend('v1'), await backend('v2')];
  const view = new NetworkView();
  const ctl = new IngressController({
    view,
    address: '127.0.0.1',
    httpPort: 0,
    httpsPort: 0,
    metricsPort: 0,
    dataDir: dir,
    nodeName: 'n1',
    log: () => {},
  });
  await ctl.start();
  try {
    const { http } = ctl.ports();
    assert.equal((await get(http, 'app.test')).status, 404);
    view.ingressClasses.set('skiff', {
      metadata: { name: 'skiff', annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } },
      spec: { controller: 'skiff.io/ingress' },
    });
    view.services.set('default/web', {
      metadata: { name: 'web', namespace: 'default' },
      spec: { ports: [{ port: 80 }] },
    });
    view.endpointSlices.set('default/web-1', slice(v1));
    view.ingresses.set('default/app', ingress('app', 'app.test'));
    view.ingresses.set('default/other', ingress('other', 'other.test', 'nginx'));
    view.synced = true;
    view.notify([{ kind: 'ingresses', key: 'default/app' }]);
    const keep = new Agent({ keepAlive: true, maxSockets: 1 });
    assert.deepEqual(await get(http, 'app.test', keep), { status: 200, body: 'v1' });
    assert.equal((await get(http, 'other.test')).status, 404, 'an Ingress of another class is not served');
    view.endpointSlices.set('default/web-1', slice(v2));
    view.notify([{ kind: 'endpointSlices', key: 'default/web-1' }]);
    assert.deepEqual(await get(http, 'app.test', keep), { status: 200, body: 'v2' });
    assert.equal(ctl.ports().http, http, 'same listener');
    view.endpointSlices.delete('default/web-1');
    view.notify([{ kind: 'endpointSlices', key: 'default/web-1' }]);
    assert.equal((await get(http, 'app.test', keep)).status, 503);
    keep.destroy();
  } finally {
    await ctl.stop();
  }
});
