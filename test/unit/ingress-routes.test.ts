// The ingress route table as a pure function: class selection, host and path precedence, backend
// resolution and annotation validation, checked as tables of requests and where they end up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type {
  EndpointSlice,
  HTTPIngressPath,
  Ingress,
  IngressClass,
  Service,
} from '../../controlplane/shared/kube/index.ts';
import { buildRoutes, matchRoute, type RouteInput, tlsSecretFor } from '../../agent/ingress/routes.ts';
import { parseAnnotations, parseDuration, parseSize } from '../../agent/ingress/annotations.ts';

const skiffClass: IngressClass = {
  metadata: { name: 'skiff', annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } },
  spec: { controller: 'skiff.io/ingress' },
};
const otherClass: IngressClass = { metadata: { name: 'nginx' }, spec: { controller: 'k8s.io/ingress-nginx' } };

function svc(name: string, ports: { name?: string; port: number }[], ns = 'default'): Service {
  return { metadata: { name, namespace: ns }, spec: { ports } };
}

function slice(
  service: string,
  ips: (string | [string, boolean])[],
  ports: { name?: string; port: number }[],
  ns = 'default',
  name = `${service}-x`,
): EndpointSlice {
  return {
    metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    endpoints: ips.map((e) =>
      typeof e === 'string' ? { addresses: [e] } : { addresses: [e[0]], conditions: { ready: e[1] } },
    ),
    ports: ports.map((p) => ({ ...p, protocol: 'TCP' })),
  };
}

const p = (path: string, pathType: HTTPIngressPath['pathType'], service: string, port = 80): HTTPIngressPath => ({
  path,
  pathType,
  backend: { service: { name: service, port: { number: port } } },
});

function ing(name: string, spec: Ingress['spec'], extra: Partial<Ingress['metadata']> = {}): Ingress {
  return { metadata: { name, namespace: 'default', creationTimestamp: '2026-01-01T00:00:00Z', ...extra }, spec };
}

function input(ingresses: Ingress[], classes: IngressClass[] = [skiffClass, otherClass]): RouteInput {
  const services = new Map<string, Service>();
  for (const name of ['a', 'b', 'c', 'd'])
    services.set(
      `default/${name}`,
      svc(name, [
        { name: 'http', port: 80 },
        { name: 'admin', port: 81 },
      ]),
    );
  return {
    ingresses,
    ingressClasses: classes,
    services,
    endpointSlices: [
      slice(
        'a',
        ['10.244.1.1', '10.244.2.1'],
        [
          { name: 'http', port: 8080 },
          { name: 'admin', port: 9090 },
        ],
      ),
      slice('b', ['10.244.1.2'], [{ name: 'http', port: 8080 }]),
      slice('c', ['10.244.1.3'], [{ name: 'http', port: 8080 }]),
      slice('d', ['10.244.1.4'], [{ name: 'http', port: 8080 }]),
    ],
  };
}

/** Where each request goes, as `service` or `-` for nothing. */
function routeOf(table: ReturnType<typeof buildRoutes>, host: string, path: string): string {
  const r = matchRoute(table, host, path);
  return r ? r.backend.name.split('/')[1].split(':')[0] : '-';
}

test('paths: Exact, Prefix element by element, trailing slash, longest wins, Exact beats Prefix on a tie', () => {
  const table = buildRoutes(
    input([
      ing('i', {
        rules: [
          {
            host: 'foo.com',
            http: {
              paths: [
                p('/', 'Prefix', 'a'),
                p('/aaa/bbb', 'Prefix', 'b'),
                p('/aaa/bbb', 'Exact', 'c'),
                p('/x/', 'ImplementationSpecific', 'd'),
                p('/foo', 'Exact', 'b'),
              ],
            },
          },
        ],
      }),
    ]),
  );
  const cases: [string, string][] = [
    ['/', 'a'],
    ['/aaa', 'a'],
    ['/aaa/bbb', 'c'],
    ['/aaa/bbb?q=1', 'c'],
    ['/aaa/bbb/', 'b'],
    ['/aaa/bbb/ccc', 'b'],
    ['/aaa/bbbxyz', 'a'],
    ['/x', 'd'],
    ['/x/y', 'd'],
    ['/xy', 'a'],
    ['/foo', 'b'],
    ['/foo/', 'a'],
  ];
  for (const [path, want] of cases) assert.equal(routeOf(table, 'foo.com', path), want, path);
  assert.deepEqual(table.problems, []);
});

test('paths are compared as nginx normalizes them: merged slashes, percent-decoding, no rule bypass', () => {
  const table = buildRoutes(
    input([
      ing('i', {
        rules: [
          {
            host: 'foo.com',
            http: {
              paths: [
                p('/', 'Prefix', 'a'),
                p('/admin', 'Exact', 'b'),
                p('/api/v1', 'Prefix', 'c'),
                p('/é', 'Exact', 'd'),
                p('/a%20b', 'Exact', 'b'),
                p('/caf%C3%A9', 'Prefix', 'c'),
              ],
            },
          },
        ],
      }),
    ]),
  );
  const cases: [string, string][] = [
    ['/admin', 'b'],
    ['//admin', 'b'],
    ['/admin?x=//y', 'b'],
    ['/%61dmin', 'b'],
    ['/%2Fadmin', 'b'],
    ['/admin/', 'a'],
    ['/adminx', 'a'],
    ['//api//v1//x', 'c'],
    ['/api%2Fv1', 'c'],
    ['/api%2fv1x', 'a'],
    ['/%C3%A9', 'd'],
    ['/%zz/admin', 'a'],
    ['/%', 'a'],
    ['/a%20b', 'b'],
    ['/a%20b/', 'a'],
    ['/caf%c3%a9/menu', 'c'],
    ['/café', 'c'],
  ];
  for (const [path, want] of cases) assert.equal(routeOf(table, 'foo.com', path), want, path);
});

test('hosts: exact, single-label wildcard, host-less rules, default backend, port and case ignored', () => {
  const table = buildRoutes(
    input([
      ing('i', {
        defaultBackend: { service: { name: 'd', port: { name: 'http' } } },
        rules: [
          { host: 'foo.com', http: { paths: [p('/', 'Prefix', 'a')] } },
          { host: '*.foo.com', http: { paths: [p('/', 'Prefix', 'b')] } },
          { http: { paths: [p('/any', 'Prefix', 'c')] } },
        ],
      }),
    ]),
  );
  const cases: [string, string, string][] = [
    ['foo.com', '/', 'a'],
    ['FOO.com:8080', '/x', 'a'],
    ['foo.com.', '/x', 'a'],
    ['bar.foo.com', '/', 'b'],
    ['baz.bar.foo.com', '/', 'd'],
    ['baz.bar.foo.com', '/any/thing', 'c'],
    ['other.com', '/any', 'c'],
    ['other.com', '/', 'd'],
    ['', '/', 'd'],
  ];
  for (const [host, path, want] of cases) assert.equal(routeOf(table, host, path), want, `${host}${path}`);
});

test('no default backend: nothing matches', () => {
  const table = buildRoutes(
    input([ing('i', { rules: [{ host: 'foo.com', http: { paths: [p('/', 'Prefix', 'a')] } }] })]),
  );
  assert.equal(matchRoute(table, 'bar.com', '/'), undefined);
});

test('backends: port by number or name, targetPort per slice port, only ready endpoints, missing ones reported', () => {
  const i = input([
    ing('i', {
      rules: [
        {
          host: 'h',
          http: {
            paths: [
              p('/num', 'Prefix', 'a', 80),
              { path: '/name', pathType: 'Prefix', backend: { service: { name: 'a', port: { name: 'admin' } } } },
              p('/nosvc', 'Prefix', 'zzz'),
              p('/noport', 'Prefix', 'a', 99),
              p('/notready', 'Prefix', 'b'),
            ],
          },
        },
      ],
    }),
  ]);
  i.endpointSlices = [
    ...[...i.endpointSlices].filter((s) => s.metadata.name !== 'b-x'),
    slice('a', ['10.244.3.1', ['10.244.3.2', false], '10.244.1.1'], [{ name: 'http', port: 8080 }], 'default', 'a-y'),
    slice('b', [['10.244.1.2', false]], [{ name: 'http', port: 8080 }]),
  ];
  const table = buildRoutes(i);
  const ep = (path: string) => matchRoute(table, 'h', path)?.backend;
  assert.deepEqual(ep('/num')?.endpoints, [
    { ip: '10.244.1.1', port: 8080 },
    { ip: '10.244.2.1', port: 8080 },
    { ip: '10.244.3.1', port: 8080 },
  ]);
  assert.deepEqual(ep('/name')?.endpoints, [
    { ip: '10.244.1.1', port: 9090 },
    { ip: '10.244.2.1', port: 9090 },
  ]);
  assert.equal(ep('/name')?.name, 'default/a:admin');
  assert.match(ep('/nosvc')?.unavailable ?? '', /does not exist/);
  assert.match(ep('/noport')?.unavailable ?? '', /has no port 99/);
  assert.match(ep('/notready')?.unavailable ?? '', /no ready endpoints/);
  assert.deepEqual(ep('/notready')?.endpoints, []);
});

test('IngressClass: class name, legacy annotation, default class, other classes ignored', () => {
  const rule = (host: string) => ({ rules: [{ host, http: { paths: [p('/', 'Prefix', 'a')] } }] });
  const all = [
    ing('by-name', { ...rule('1'), ingressClassName: 'skiff' }),
    ing('legacy', rule('2'), { annotations: { 'kubernetes.io/ingress.class': 'skiff' } }),
    ing('none', rule('3')),
    ing('nginx', { ...rule('4'), ingressClassName: 'nginx' }),
    ing('legacy-nginx', rule('5'), { annotations: { 'kubernetes.io/ingress.class': 'nginx' } }),
    ing('unknown', { ...rule('6'), ingressClassName: 'missing' }),
  ];
  const served = (classes: IngressClass[]) => buildRoutes(input(all, classes)).ingresses.map((k) => k.split('/')[1]);
  assert.deepEqual(served([skiffClass, otherClass]).sort(), ['by-name', 'legacy', 'none']);
  const notDefault = { ...skiffClass, metadata: { name: 'skiff' } };
  assert.deepEqual(served([notDefault, otherClass]).sort(), ['by-name', 'legacy']);
  assert.deepEqual(served([otherClass]), []);
});

test('conflicts: the older Ingress keeps a host+path and the default backend; the newer one is reported', () => {
  const table = buildRoutes(
    input([
      ing(
        'new',
        {
          defaultBackend: { service: { name: 'b', port: { number: 80 } } },
          rules: [{ host: 'h', http: { paths: [p('/x/', 'Prefix', 'b'), p('/y', 'Prefix', 'b')] } }],
        },
        { creationTimestamp: '2026-02-01T00:00:00Z' },
      ),
      ing('old', {
        defaultBackend: { service: { name: 'a', port: { number: 80 } } },
        rules: [{ host: 'h', http: { paths: [p('/x', 'Prefix', 'a')] } }],
      }),
    ]),
  );
  assert.equal(routeOf(table, 'h', '/x'), 'a');
  assert.equal(routeOf(table, 'h', '/y'), 'b');
  assert.equal(routeOf(table, 'zzz', '/'), 'a');
  assert.deepEqual(
    table.problems.map((x) => [x.ingress, x.reason]),
    [
      ['default/new', 'Conflict'],
      ['default/new', 'Conflict'],
    ],
  );
});

test('TLS: hosts to secrets, wildcards, same namespace; entries without a secret reported', () => {
  const table = buildRoutes(
    input([
      ing('i', {
        tls: [
          { hosts: ['a.com', '*.b.com'], secretName: 's1' },
          { hosts: ['c.com'] },
          { hosts: ['Bad_Host'], secretName: 'x' },
        ],
        rules: [{ host: 'a.com', http: { paths: [p('/', 'Prefix', 'a')] } }],
      }),
    ]),
  );
  assert.equal(tlsSecretFor(table, 'a.com:443'), 'default/s1');
  assert.equal(tlsSecretFor(table, 'x.b.com'), 'default/s1');
  assert.equal(tlsSecretFor(table, 'b.com'), undefined);
  assert.equal(tlsSecretFor(table, 'c.com'), undefined);
  assert.deepEqual(
    table.problems.map((x) => x.reason),
    ['InvalidTLS', 'InvalidTLS'],
  );
});

test('annotations: typed values, strict validation, invalid ones reported and the default kept', () => {
  const { options, problems } = parseAnnotations({
    'skiff.io/ssl-redirect': 'false',
    'skiff.io/proxy-body-size': '8m',
    'skiff.io/proxy-connect-timeout': '500ms',
    'skiff.io/proxy-read-timeout': 'forever',
    'skiff.io/websocket-idle-timeout': '1s;\nload_module x',
    'skiff.io/configuration-snippet': 'lua',
    'other.io/anything': 'is not ours',
  });
  assert.deepEqual(options, {
    sslRedirect: false,
    maxBodyBytes: 8 * 1024 * 1024,
    connectTimeoutMs: 500,
    readTimeoutMs: 60_000,
    websocketIdleMs: 3_600_000,
  });
  assert.deepEqual(
    problems.map((x) => x.annotation),
    ['skiff.io/proxy-read-timeout', 'skiff.io/websocket-idle-timeout', 'skiff.io/configuration-snippet'],
  );
  const sizes: [string, number | RegExp][] = [
    ['0', 0],
    ['512', 512],
    ['1k', 1024],
    ['2G', 2 * 1024 ** 3],
    ['1.5m', /size like/],
    ['-1', /size like/],
    ['65g', /at most/],
    ['', /size like/],
  ];
  for (const [v, want] of sizes)
    if (typeof want === 'number') assert.equal(parseSize(v), want, v);
    else assert.throws(() => parseSize(v), want, v);
  const durations: [string, number | RegExp][] = [
    ['30', 30_000],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['250ms', 250],
    ['0', /greater than zero/],
    ['25h', /at most 24h/],
    ['1d', /duration like/],
  ];
  for (const [v, want] of durations)
    if (typeof want === 'number') assert.equal(parseDuration(v), want, v);
    else assert.throws(() => parseDuration(v), want, v);
});

test('annotation problems reach the route table with the Ingress they belong to', () => {
  const table = buildRoutes(
    input([
      ing(
        'i',
        { defaultBackend: { service: { name: 'a', port: { number: 80 } } } },
        { annotations: { 'skiff.io/ssl-redirect': 'yes' } },
      ),
    ]),
  );
  assert.equal(table.defaultBackend?.options.sslRedirect, true);
  assert.deepEqual(
    table.problems.map((x) => [x.ingress, x.reason]),
    [['default/i', 'InvalidAnnotation']],
  );
  assert.match(table.problems[0].message, /skiff.io\/ssl-redirect: must be "true" or "false"/);
});
