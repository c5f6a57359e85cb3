// The real kubectl (1.32) against a real `skiff server` on loopback.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT, startTestServer, type TestServer } from '../helpers/server.ts';

const manifest = readFileSync(join(ROOT, 'test/fixtures/app.yaml'), 'utf8');

describe('kubectl against skiff server', () => {
  let s: TestServer;
  let k: TestServer['kubectl'];
  const ok = async (args: string[], input?: string) => {
    const r = await k(args, { input });
    assert.equal(r.exitCode, 0, `kubectl ${args.join(' ')}\n${r.stderr}`);
    return r.stdout;
  };
  before(async () => {
    s = await startTestServer();
    k = s.kubectl;
  });
  after(async () => {
    await s.stop();
  });

  test('apply a multi-document manifest with default (strict) validation', async () => {
    const out = await ok(['apply', '-f', '-'], manifest);
    for (const line of [
      'namespace/shop created',
      'configmap/web-config created',
      'secret/web-secret created',
      'deployment.apps/web created',
      'service/web created',
      'ingress.networking.k8s.io/web created',
    ])
      assert.match(out, new RegExp(line.replace(/[./]/g, '\\$&')));
    const again = await ok(['apply', '-f', '-'], manifest);
    assert.match(again, /deployment\.apps\/web unchanged/);
    assert.match(again, /service\/web unchanged/);
    const before = JSON.parse(await ok(['get', 'deploy', 'web', '-n', 'shop', '-o', 'json']));
    const changed = await ok(['apply', '-f', '-'], manifest.replace('replicas: 2', 'replicas: 4'));
    assert.match(changed, /deployment\.apps\/web configured/);
    const d = JSON.parse(await ok(['get', 'deploy', 'web', '-n', 'shop', '-o', 'json']));
    assert.equal(d.spec.replicas, 4);
    assert.equal(d.metadata.generation, 2, 'a spec change bumps generation');
    assert.equal(d.metadata.uid, before.metadata.uid, 'updated in place, not deleted and re-created');
    assert.notEqual(d.metadata.resourceVersion, before.metadata.resourceVersion);
  });

  test('apply a kind: List (as `kubectl get -o yaml` prints); its items are validated by the server', async () => {
    // kubectl reads /openapi/v2 for a List: without it, "the server could not find the requested resource".
    const list = (items: object[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
    const cm = (name: string, extra = {}) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace: 'default' },
      data: { k: 'v' },
      ...extra,
    });
    const out = await ok(['apply', '-f', '-'], list([cm('list-a'), cm('list-b')]));
    assert.match(out, /configmap\/list-a created/);
    assert.match(out, /configmap\/list-b created/);
    const listed = await ok(['get', 'configmap', 'list-a', 'list-b', '-o', 'yaml']);
    assert.match(listed, /kind: List/);
    assert.match(await ok(['apply', '-f', '-'], listed), /configmap\/list-a (unchanged|configured)/);
    const bad = await k(['apply', '-f', '-'], { input: list([cm('list-c', { bogus: 1 })]) });
    assert.notEqual(bad.exitCode, 0);
    assert.match(bad.stderr, /strict decoding error: unknown field "bogus"/);
  });

  test('server-side apply with field managers, conflicts and force', async () => {
    const ssa = manifest.replace('replicas: 2', 'replicas: 4');
    const out = await ok(['apply', '--server-side', '-f', '-'], ssa);
    assert.match(out, /deployment\.apps\/web serverside-applied/);
    await ok(['scale', 'deploy', 'web', '-n', 'shop', '--replicas=6']);
    const conflict = await k(['apply', '--server-side', '-f', '-'], { input: ssa });
    assert.notEqual(conflict.exitCode, 0);
    assert.match(conflict.stderr, /conflict with "kubectl-scale"|conflict with "kubectl"/);
    assert.match(conflict.stderr, /\.spec\.replicas/);
    await ok(['apply', '--server-side', '--force-conflicts', '-f', '-'], ssa);
    const d = JSON.parse(await ok(['get', 'deploy', 'web', '-n', 'shop', '-o', 'json', '--show-managed-fields']));
    assert.equal(d.spec.replicas, 4);
    // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
    assert.ok(d.metadata.managedFields.some((m: any) => m.manager === 'kubectl' && m.operation === 'Apply'));
  });

  test('get prints the Table columns users know, and every output format', async () => {
    const pods = await ok(['get', 'svc', '-n', 'shop']);
    assert.match(pods.split('\n')[0], /^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE$/);
    assert.match(pods, /web\s+ClusterIP\s+10\.\d+\.\d+\.\d+\s+<none>\s+80\/TCP/);
    const deploy = await ok(['get', 'deploy', '-n', 'shop']);
    assert.match(deploy.split('\n')[0], /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE$/);
    const wide = await ok(['get', 'deploy', '-n', 'shop', '-o', 'wide']);
    assert.match(wide.split('\n')[0], /CONTAINERS\s+IMAGES\s+SELECTOR/);
    assert.match(wide, /skiff\.local\/busybox:latest\s+app=web/);
    const ns = await ok(['get', 'ns']);
    for (const n of ['default', 'kube-system', 'kube-public', 'kube-node-lease', 'shop'])
      assert.match(ns, new RegExp(`^${n}\\s+Active`, 'm'));
    const yaml = await ok(['get', 'cm', 'web-config', '-n', 'shop', '-o', 'yaml']);
    assert.match(yaml, /greeting: hello/);
    const all = await ok(['get', 'svc', '-A']);
    assert.match(all, /default\s+kubernetes\s+ClusterIP\s+10\.96\.0\.1\s/);
    const labelled = await ok(['get', 'svc', '-A', '-l', 'provider=kubernetes', '-o', 'name']);
    assert.equal(labelled.trim(), 'service/kubernetes');
    const fielded = await ok(['get', 'cm', '-A', '--field-selector', 'metadata.name=web-config', '-o', 'name']);
    assert.equal(fielded.trim(), 'configmap/web-config');
    const nodes = await ok(['get', 'nodes']);
    assert.equal(nodes.trim(), '', 'no nodes yet, no error');
  });

  test('get -w sees a change', async () => {
    const watch = execa('kubectl', ['get', 'cm', '-n', 'shop', '-w', '--output-watch-events'], {
      env: { KUBECONFIG: s.kubeconfig },
      reject: false,
      timeout: 20_000,
    });
    let seen = '';
    watch.stdout!.on('data', (c: Buffer) => {
      seen += c.toString();
    });
    const until = async (re: RegExp) => {
      const end = Date.now() + 10_000;
      while (!re.test(seen)) {
        if (Date.now() > end) throw new Error(`not seen ${re}: ${seen}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await until(/web-config/);
    await ok(['create', 'configmap', 'watched', '-n', 'shop', '--from-literal=a=b']);
    await until(/ADDED\s+watched/);
    await ok(['patch', 'cm', 'watched', '-n', 'shop', '-p', '{"data":{"c":"d"}}']);
    await until(/MODIFIED\s+watched\s+2/);
    await ok(['delete', 'cm', 'watched', '-n', 'shop']);
    await until(/DELETED\s+watched/);
    watch.kill();
  });

  test('describe, label, annotate', async () => {
    await ok(['label', 'deploy', 'web', '-n', 'shop', 'tier=front']);
    await ok(['annotate', 'deploy', 'web', '-n', 'shop', 'owner=team-a']);
    const d = await ok(['describe', 'deploy', 'web', '-n', 'shop']);
    assert.match(d, /^Name:\s+web$/m);
    assert.match(d, /^Labels:\s+app=web\s*\n\s+tier=front/m);
    assert.match(d, /owner: team-a/);
    assert.match(d, /Environment:\s*\n\s+GREETING:\s+<set to the key 'greeting' of config map 'web-config'>/);
    assert.equal(
      (await ok(['get', 'deploy', '-n', 'shop', '-l', 'tier=front', '-o', 'name'])).trim(),
      'deployment.apps/web',
    );
    // kubectl checks label syntax itself; a patch reaches the server's own validation.
    const bad = await k([
      'patch',
      'deploy',
      'web',
      '-n',
      'shop',
      '--type=merge',
      '-p',
      '{"metadata":{"labels":{"tier":"-bad-"}}}',
    ]);
    assert.notEqual(bad.exitCode, 0);
    assert.match(bad.stderr, /Deployment "web" is invalid: metadata\.labels: Invalid value: "-bad-"/);
  });

  test('patch with each patch type, and scale', async () => {
    await ok([
      'patch',
      'deploy',
      'web',
      '-n',
      'shop',
      '--type=json',
      '-p',
      '[{"op":"replace","path":"/spec/replicas","value":3}]',
    ]);
    await ok(['patch', 'deploy', 'web', '-n', 'shop', '--type=merge', '-p', '{"spec":{"minReadySeconds":5}}']);
    await ok([
      'patch',
      'deploy',
      'web',
      '-n',
      'shop',
      '--type=strategic',
      '-p',
      '{"spec":{"template":{"spec":{"containers":[{"name":"httpd","image":"skiff.local/busybox:v2"}]}}}}',
    ]);
    let d = JSON.parse(await ok(['get', 'deploy', 'web', '-n', 'shop', '-o', 'json']));
    assert.equal(d.spec.replicas, 3);
    assert.equal(d.spec.minReadySeconds, 5);
    assert.equal(d.spec.template.spec.containers[0].image, 'skiff.local/busybox:v2');
    assert.deepEqual(
      d.spec.template.spec.containers[0].command,
      ['httpd', '-f', '-p', '8080'],
      'strategic merge kept the rest of the container',
    );
    await ok(['scale', 'deploy', 'web', '-n', 'shop', '--replicas=7']);
    d = JSON.parse(await ok(['get', 'deploy', 'web', '-n', 'shop', '-o', 'json']));
    assert.equal(d.spec.replicas, 7);
    const bad = await k([
      'patch',
      'deploy',
      'web',
      '-n',
      'shop',
      '--type=json',
      '-p',
      '[{"op":"remove","path":"/spec/nope"}]',
    ]);
    assert.notEqual(bad.exitCode, 0);
  });

  test('an update with a stale resourceVersion is refused with 409', async () => {
    const stale = await ok(['get', 'cm', 'web-config', '-n', 'shop', '-o', 'json']);
    await ok(['patch', 'cm', 'web-config', '-n', 'shop', '-p', '{"data":{"x":"1"}}']);
    const r = await k(['replace', '-f', '-'], { input: stale });
    assert.notEqual(r.exitCode, 0);
    assert.match(r.stderr, /Conflict.*the object has been modified/);
  });

  test('delete waits for finalizers to be removed', async () => {
    await ok(
      ['apply', '-f', '-'],
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: shop\n  finalizers: ' +
        '["example.com/hold"]\n',
    );
    const del = execa('kubectl', ['delete', 'cm', 'held', '-n', 'shop', '--timeout=30s'], {
      env: { KUBECONFIG: s.kubeconfig },
      reject: false,
    });
    const end = Date.now() + 10_000;
    for (;;) {
      const cm = JSON.parse(await ok(['get', 'cm', 'held', '-n', 'shop', '-o', 'json']));
      if (cm.metadata.deletionTimestamp) break;
      if (Date.now() > end) throw new Error('deletionTimestamp never set');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(del.exitCode, null, 'kubectl delete is still waiting');
    await ok([
      'patch',
      'cm',
      'held',
      '-n',
      'shop',
      '--type=json',
      '-p',
      '[{"op":"remove","path":"/metadata/finalizers"}]',
    ]);
    const r = await del;
    assert.equal(r.exitCode, 0, String(r.stderr));
    const gone = await k(['get', 'cm', 'held', '-n', 'shop']);
    assert.match(gone.stderr, /NotFound/);
  });

  test('an unknown field is refused with a message naming it', async () => {
    const r = await k(['apply', '-f', '-'], {
      input: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\n  namespace: shop\ndatta:\n  a: b\n',
    });
    assert.notEqual(r.exitCode, 0);
    assert.match(r.stderr, /unknown field "datta"/);
    const deep = await k(['apply', '-f', '-'], {
      input: manifest.replace('containerPort: 8080', 'containerPort: 8080\n          hostPortt: 1'),
    });
    assert.match(deep.stderr, /unknown field "spec\.template\.spec\.containers\[0\]\.ports\[0\]\.hostPortt"/);
  });

  test('EndpointSlices, Endpoints and Node facts that agents program are refused with 422 when malformed', async () => {
    const slice = (endpoints: string, ports: string) =>
      'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: hand\n  namespace: shop\n' +
      `  labels:\n    kubernetes.io/service-name: hand\naddressType: IPv4\nendpoints: ${endpoints}\nports: ${ports}\n`;
    const svcWith = (extra: string) =>
      'apiVersion: v1\nkind: Service\nmetadata:\n  name: hand\n  namespace: shop\nspec:\n  ports: [{port: 80}]\n' +
      extra;
    const cases: [string, RegExp][] = [
      [slice('[{addresses: ["10.244.1.5\\nadd table ip x"]}]', '[{port: 80}]'), /endpoints\[0\]\.addresses\[0\]/],
      [slice('[{addresses: ["999.1.1.1"]}]', '[{port: 80}]'), /must be a valid IPv4 address/],
      [slice('[{addresses: ["fd00::1"]}]', '[{port: 80}]'), /must be a valid IPv4 address/],
      [slice('[null]', '[{port: 80}]'), /endpoints\[0\]: Invalid value/],
      [slice('[{addresses: ["10.244.1.5"]}]', '[{port: 70000}]'), /ports\[0\]\.port/],
      [slice('[{addresses: ["10.244.1.5"]}]', '[{port: 80, protocol: ICMP}]'), /ports\[0\]\.protocol/],
      [slice('[{addresses: ["10.244.1.5"], hostname: "a.b"}]', '[{port: 80}]'), /endpoints\[0\]\.hostname/],
      [
        'apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: hand\n  namespace: shop\n' +
          'subsets: [{addresses: [{ip: "10.0.0.1 }"}], ports: [{port: 5432}]}]\n',
        /subsets\[0\]\.addresses\[0\]\.ip/,
      ],
      [svcWith('  externalIPs: ["1.2.3.4;"]\n'), /spec\.externalIPs\[0\]/],
      [svcWith('  loadBalancerSourceRanges: ["foo"]\n'), /spec\.loadBalancerSourceRanges\[0\]/],
      [
        svcWith('  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: -1}}\n'),
        /timeoutSeconds/,
      ],
    ];
    for (const [input, why] of cases) {
      const r = await k(['apply', '-f', '-'], { input });
      assert.notEqual(r.exitCode, 0, input);
      assert.match(r.stderr, /is invalid/, input);
      assert.match(r.stderr, why, input);
    }
    await ok(['apply', '-f', '-'], slice('[{addresses: ["10.244.1.5"], hostname: web-0}]', '[{name: http, port: 80}]'));
    await ok(['delete', 'endpointslice', 'hand', '-n', 'shop']);
    // A Node's overlay facts: the annotations and podCIDR every other node's agent programs.
    await ok(
      ['apply', '-f', '-'],
      'apiVersion: v1\nkind: Node\nmetadata:\n  name: hostile\nspec:\n  podCIDR: 10.244.9.0/24\n',
    );
    for (const [args, why] of [
      [['annotate', 'node', 'hostile', 'skiff.io/vtep-mac=02:00:00:00:00:03 x'], /skiff\.io\/vtep-mac/],
      [['annotate', 'node', 'hostile', 'skiff.io/public-ip=10.0.0.1}'], /skiff\.io\/public-ip/],
      [['patch', 'node', 'hostile', '-p', '{"spec":{"podCIDR":"0.0.0.0/"}}'], /spec\.podCIDR/],
    ] as [string[], RegExp][]) {
      const r = await k(args);
      assert.notEqual(r.exitCode, 0, args.join(' '));
      assert.match(r.stderr, why);
    }
    await ok(['annotate', 'node', 'hostile', 'skiff.io/vtep-mac=02:00:00:00:00:03']);
    await ok(['delete', 'node', 'hostile']);
  });

  test('services get a ClusterIP, NodePorts from the range, and a taken IP is refused with 422', async () => {
    await ok(
      ['apply', '-f', '-'],
      'apiVersion: v1\nkind: Service\nmetadata:\n  name: np\n  namespace: shop\nspec:\n  type: NodePort\n  ' +
        'selector: {app: web}\n  ports:\n  - port: 80\n',
    );
    const np = JSON.parse(await ok(['get', 'svc', 'np', '-n', 'shop', '-o', 'json']));
    assert.ok(np.spec.ports[0].nodePort >= 30000 && np.spec.ports[0].nodePort <= 32767);
    const taken = await k(['apply', '-f', '-'], {
      input:
        'apiVersion: v1\nkind: Service\nmetadata:\n  name: dup\n  namespace: shop\nspec:\n  clusterIP: ' +
        '10.96.0.1\n  ports:\n  - port: 80\n',
    });
    assert.match(taken.stderr, /Invalid value: "10\.96\.0\.1".*already allocated/);
    const outside = await k(['apply', '-f', '-'], {
      input:
        'apiVersion: v1\nkind: Service\nmetadata:\n  name: dup\n  namespace: shop\nspec:\n  clusterIP: ' +
        '192.168.0.1\n  ports:\n  - port: 80\n',
    });
    assert.match(outside.stderr, /not in the valid range/);
    // The cluster DNS Service is a built-in: it already holds 10.96.0.10.
    const kubeDns = JSON.parse(await ok(['get', 'svc', 'kube-dns', '-n', 'kube-system', '-o', 'json']));
    assert.equal(kubeDns.spec.clusterIP, '10.96.0.10');
    const requested = await ok(
      ['apply', '-f', '-'],
      'apiVersion: v1\nkind: Service\nmetadata:\n  name: dns\n  namespace: kube-system\nspec:\n  clusterIP: ' +
        '10.96.0.11\n  ports:\n  - {name: dns, port: 53, protocol: UDP}\n',
    );
    assert.match(requested, /service\/dns created/);
    const headless = await ok(
      ['apply', '-f', '-'],
      'apiVersion: v1\nkind: Service\nmetadata:\n  name: hl\n  namespace: shop\nspec:\n  clusterIP: None\n  ' +
        'selector: {app: web}\n',
    );
    assert.match(headless, /created/);
    const ext = await ok([
      'create',
      'service',
      'externalname',
      'ext',
      '-n',
      'shop',
      '--external-name',
      'db.example.com',
    ]);
    assert.match(ext, /created/);
    await ok(['delete', 'svc', 'np', '-n', 'shop']);
    const again = await ok(
      ['apply', '-f', '-'],
      `apiVersion: v1\nkind: Service\nmetadata:\n  name: np2\n  namespace: shop\nspec:\n  type: NodePort\n  ` +
        `clusterIP: ${np.spec.clusterIP}\n  ports:\n  - port: 80\n    nodePort: ${np.spec.ports[0].nodePort}\n`,
    );
    assert.match(again, /created/, 'released IP and port can be taken again');
  });

  test('deleting a namespace empties it and then removes it', async () => {
    await ok(['delete', 'ns', 'shop', '--timeout=60s']);
    const r = await k(['get', 'ns', 'shop']);
    assert.match(r.stderr, /NotFound/);
    const left = await ok(['get', 'all', '-n', 'shop', '-o', 'name']);
    assert.equal(left.trim(), '');
  });
});
