// Fuzzing the API server (fixed seed, bounded): malformed bodies, nesting, encodings, names,
// content types, the four patch types with garbage and prototype keys, YAML bombs, selectors,
// resourceVersion/limit/continue, dot-segments and friends in every path position, long URLs
// and headers, unknown methods, and watches with garbage parameters. After every category the
// server process is the same and /readyz is fast; every error is a Status with the right code
// and no stack trace; at the end the known objects are byte-for-byte unchanged and nothing a 4xx
// tried to create exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { credentials, spawnServer, tempDir } from '../helpers/server.ts';
import { freePort } from '../helpers/etcd.ts';
import { parseRaw, raw, rawBytes, tlsOptions, type Base } from '../helpers/raw.ts';

const SEED = 0x5eed5;
// About 19,000 cases at scale 1; SKIFF_FUZZ_SCALE=0.1 for a quick run.
const SCALE = Number(process.env.SKIFF_FUZZ_SCALE ?? 1);

/** mulberry32: a small deterministic PRNG. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const str = (n: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-._~%/\\:?#[]@!$&\'()*+,;= "{}'): string => {
    // Long strings repeat a random 64-character stem: generating each character costs more than the request.
    if (n > 256)
      return str(64, alphabet)
        .repeat(Math.ceil(n / 64))
        .slice(0, n);
    return Array.from({ length: n }, () => alphabet[int(alphabet.length)]).join('');
  };
  return { next, int, pick, str };
}
type Rng = ReturnType<typeof prng>;

const PROTO = ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf', 'isPrototypeOf'];
const BAD_SEGMENTS = [
  '.',
  '..',
  '%2e',
  '%2E',
  '%2e%2e',
  '.%2e',
  '%2E.',
  '',
  'a\\..',
  '%5c',
  'a%5c..',
  '%2f',
  'x%2F..%2Fy',
  '..%2f',
  '%2e%2e%2f%2e%2e',
  '%zz',
  '%',
  '%2',
];

interface Outcome {
  status: number;
  body: string;
}

function assertClean(r: Outcome, label: string, allowed?: number[]) {
  assert.ok(r.status >= 100 && r.status < 500, `${label}: ${r.status} ${r.body.slice(0, 300)}`);
  if (allowed)
    assert.ok(allowed.includes(r.status), `${label}: ${r.status} not in ${allowed}: ${r.body.slice(0, 200)}`);
  assert.doesNotMatch(r.body, /\n\s+at |\\n\s+at |\.ts:\d|\/work\/|node:internal/, `${label}: stack trace or path`);
  if (r.status >= 400 && r.body) {
    let st: { kind?: string; code?: number; details?: unknown };
    try {
      st = JSON.parse(r.body);
    } catch {
      assert.fail(`${label}: ${r.status} body is not JSON: ${r.body.slice(0, 200)}`);
    }
    assert.equal(st.kind, 'Status', label);
    assert.equal(st.code, r.status, label);
    assert.ok(st.details, `${label}: details`);
  }
}

test('API fuzz: no 5xx, only Statuses, nothing known changed', { timeout: 600_000 }, async () => {
  const dir = tempDir('fuzz');
  const srv = await spawnServer(dir, await freePort());
  const pid = srv.proc.pid;
  const base: Base = credentials(srv.kubeconfig);
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const send = (
    method: string,
    path: string,
    body?: string | Buffer,
    headers: Record<string, string> = {},
    readBody = true,
  ): Promise<Outcome> =>
    new Promise((resolve, reject) => {
      const u = new URL(base.server);
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          method,
          path,
          agent,
          ...tlsOptions(base.ca),
          headers: {
            Authorization: `Bearer ${base.token}`,
            ...(body !== undefined
              ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) }
              : {}),
            ...headers,
          },
        },
        (res) => {
          clearTimeout(timer);
          if (!readBody && res.statusCode === 200) {
            req.destroy();
            resolve({ status: 200, body: '' });
            return;
          }
          const chunks: Buffer[] = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
          res.on('error', reject);
        },
      );
      const timer = setTimeout(
        // Generous: on a loaded machine the embedded store's fsyncs stall writes for seconds.
        () => req.destroy(new Error(`${method} ${path.slice(0, 100)}: no answer in 60 s`)),
        60_000,
      );
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      if (body !== undefined) req.write(body);
      req.end();
    });
  /** Runs `n` cases with 8 in parallel. */
  const cases = async (n: number, one: (i: number) => Promise<void>) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < n) await one(next++);
      }),
    );
  };
  const refusedCreates = new Set<string>();
  const refusedBy = new Map<string, string>();
  // Names some case did create: a later refusal of the same name proves nothing.
  const createdOk = new Set<string>();
  const noteCreate = (ns: string, body: string | Buffer, status: number) => {
    try {
      const name = JSON.parse(String(body))?.metadata?.name;
      if (status < 400) {
        if (typeof name === 'string') createdOk.add(`${ns}/${name}`);
        return;
      }
      if (typeof name === 'string' && name) {
        refusedCreates.add(`${ns}/${name}`);
        refusedBy.set(`${ns}/${name}`, `${status} ${String(body).slice(0, 300)}`);
      }
    } catch {
      /* not JSON: nothing named */
    }
  };

  try {
    // The known objects and a scratch object the patches may change.
    for (const n of ['keep', 'other', 'scratch'])
      assert.equal((await send('POST', '/api/v1/namespaces', JSON.stringify({ metadata: { name: n } }))).status, 201);
    const known = [
      '/api/v1/namespaces/keep',
      '/api/v1/namespaces/other',
      '/api/v1/namespaces/keep/configmaps/a',
      '/api/v1/namespaces/keep/configmaps/b',
      '/api/v1/namespaces/other/configmaps/c',
      '/api/v1/namespaces/keep/secrets/s',
      '/apis/apps/v1/namespaces/keep/deployments/d',
    ];
    for (const [ns, name] of [
      ['keep', 'a'],
      ['keep', 'b'],
      ['other', 'c'],
      ['scratch', 'target'],
    ])
      assert.equal(
        (
          await send(
            'POST',
            `/api/v1/namespaces/${ns}/configmaps`,
            JSON.stringify({ metadata: { name, labels: { app: 'x' } }, data: { k: 'v' } }),
          )
        ).status,
        201,
      );
    assert.equal(
      (
        await send(
          'POST',
          '/api/v1/namespaces/keep/secrets',
          JSON.stringify({ metadata: { name: 's' }, data: { p: 'cA==' } }),
        )
      ).status,
      201,
    );
    const dep = {
      metadata: { name: 'd' },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: 'd' } },
        template: { metadata: { labels: { app: 'd' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } },
      },
    };
    assert.equal((await send('POST', '/apis/apps/v1/namespaces/keep/deployments', JSON.stringify(dep))).status, 201);
    const before = new Map<string, string>();
    for (const k of known) before.set(k, (await send('GET', k)).body);

    const categories: [string, (r: Rng) => Promise<void>][] = [];
    const cat = (name: string, fn: (r: Rng) => Promise<void>) => categories.push([name, fn]);
    const cms = '/api/v1/namespaces/scratch/configmaps';
    const target = `${cms}/target`;
    const n = (k: number) => Math.max(1, Math.round(k * SCALE));

    const randomJson = (r: Rng, depth: number): unknown => {
      const t = r.int(depth > 4 ? 5 : 8);
      if (t === 0) return null;
      if (t === 1) return r.next() < 0.5;
      if (t === 2) return r.pick([0, -1, 1.5, 1e308, -0, 2 ** 63, 2 ** 70]);
      if (t === 3 || t === 4) return r.str(r.int(12));
      if (t === 5) return Array.from({ length: r.int(4) }, () => randomJson(r, depth + 1));
      const o: Record<string, unknown> = {};
      for (let i = r.int(5); i > 0; i--) {
        const key =
          r.next() < 0.3
            ? r.pick([...PROTO, 'metadata', 'data', 'spec', 'kind', 'apiVersion', 'status'])
            : r.str(r.int(8) + 1);
        Object.defineProperty(o, key, {
          value: randomJson(r, depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return o;
    };
    const validCm = (r: Rng) => ({ metadata: { name: `f${r.str(6, 'abcdefghij')}` }, data: { k: r.str(8, 'abc') } });

    cat('random and truncated JSON', async (r) => {
      await cases(n(1500), async () => {
        let body: string;
        const mode = r.int(4);
        if (mode === 0) body = JSON.stringify(randomJson(r, 0)) ?? 'null';
        else if (mode === 1) {
          const s = JSON.stringify(validCm(r));
          body = s.slice(0, r.int(s.length));
        } else if (mode === 2) {
          const s = [...JSON.stringify({ ...validCm(r), extra: randomJson(r, 1) })];
          for (let k = r.int(4) + 1; k > 0; k--)
            s[r.int(s.length)] = r.pick(['{', '}', '"', ',', ':', '[', ']', '\\', 'x', ' ']);
          body = s.join('');
        } else
          body = JSON.stringify({
            ...validCm(r),
            metadata: { ...(randomJson(r, 2) as object), name: `g${r.int(1e6)}` },
          });
        const method = r.pick(['POST', 'POST', 'PUT']);
        const res = await send(method, method === 'PUT' ? target : cms, body);
        assertClean(res, `${method} ${body.slice(0, 80)}`);
        if (method === 'POST') noteCreate('scratch', body, res.status);
      });
    });

    cat('deep nesting', async (r) => {
      await cases(n(300), async () => {
        const depth = r.pick([10, 500, 999, 1001, 2000, 10_000, 100_000]);
        const open = r.next() < 0.5 ? '{"a":' : '[';
        const close = open === '[' ? ']' : '}';
        const inner = open.repeat(depth) + '1'.repeat(open === '[' ? 1 : 1) + close.repeat(depth);
        const where = r.int(3);
        const body =
          where === 0
            ? inner
            : JSON.stringify({ metadata: { name: `deep${r.int(1e6)}` }, data: { k: 'v' } }).replace('"v"', inner);
        const method = r.pick(['POST', 'PUT', 'PATCH']);
        const headers: Record<string, string> =
          method === 'PATCH'
            ? { 'Content-Type': r.pick(['application/merge-patch+json', 'application/strategic-merge-patch+json']) }
            : {};
        const res = await send(method, method === 'POST' ? cms : target, body, headers);
        assertClean(res, `${method} depth ${depth}`);
        if (depth > 1000) assert.ok(res.status === 400 || res.status === 422, `depth ${depth}: ${res.status}`);
        if (method === 'POST') noteCreate('scratch', body, res.status);
      });
    });

    cat('invalid UTF-8', async (r) => {
      await cases(n(1500), async () => {
        const good = Buffer.from(JSON.stringify({ metadata: { name: `u${r.int(1e6)}` }, data: { k: 'vvvvvvvv' } }));
        const bad = r.pick([
          [0xff],
          [0xc3, 0x28],
          [0xe2, 0x28, 0xa1],
          [0xf0, 0x90, 0x28, 0xbc],
          [0x80],
          [0xed, 0xa0, 0x80],
        ]);
        const at = good.indexOf('vvvv') + r.int(4);
        const body = Buffer.concat([good.subarray(0, at), Buffer.from(bad), good.subarray(at)]);
        const method = r.pick(['POST', 'PUT']);
        const res = await send(method, method === 'POST' ? cms : target, body, {
          'Content-Type': r.pick(['application/json', 'application/yaml']),
        });
        assertClean(res, `invalid UTF-8 ${bad}`, [400]);
      });
    });

    cat('huge names and labels', async (r) => {
      await cases(n(600), async () => {
        const len = r.pick([0, 1, 63, 64, 253, 254, 1000, 10_000, 200_000]);
        const name = r.str(len, r.next() < 0.5 ? 'abcdefghij' : 'aZ-._/%\u00e9 ');
        const labels: Record<string, string> = {};
        if (r.next() < 0.5)
          labels[r.str(r.pick([1, 63, 64, 300]), 'abc./')] = r.str(r.pick([0, 63, 64, 100_000]), 'abc-_.');
        const body = JSON.stringify({
          metadata: { name, labels, annotations: { a: r.str(r.pick([0, 300_000]), 'x') } },
        });
        const res = await send('POST', cms, body);
        assertClean(res, `name of ${len}`);
        noteCreate('scratch', body, res.status);
      });
    });

    cat('wrong content types', async (r) => {
      await cases(n(1500), async () => {
        const type = r.pick([
          'text/plain',
          'application/xml',
          'application/json; charset=latin1',
          'application/vnd.kubernetes.protobuf',
          'application/yaml',
          'multipart/form-data; boundary=x',
          '',
          r.str(20),
          'application/json-patch+json',
          'application/apply-patch+yaml',
        ]);
        const body = r.next() < 0.5 ? JSON.stringify(validCm(r)) : r.str(r.int(100));
        const method = r.pick(['POST', 'PUT', 'PATCH']);
        const res = await send(method, method === 'POST' ? cms : target, body, { 'Content-Type': type });
        assertClean(res, `${method} as ${type}`);
        if (method === 'POST') noteCreate('scratch', body, res.status);
      });
    });

    cat('patches with garbage and prototype keys', async (r) => {
      const types = [
        'application/json-patch+json',
        'application/merge-patch+json',
        'application/strategic-merge-patch+json',
        'application/apply-patch+yaml',
      ];
      await cases(n(3000), async () => {
        const type = r.pick(types);
        let body: string;
        if (type === 'application/json-patch+json') {
          const ops = Array.from({ length: r.int(3) + 1 }, () => ({
            op: r.pick(['add', 'remove', 'replace', 'move', 'copy', 'test', 'frob']),
            path:
              `/${r.pick(['data', 'metadata', 'metadata/labels', 'spec', ''])}` +
              `/${r.pick([...PROTO, 'k', '-', '0', r.str(3)])}`,
            from: `/data/${r.pick([...PROTO, 'k'])}`,
            value: randomJson(r, 3),
          }));
          body = JSON.stringify(r.next() < 0.1 ? randomJson(r, 0) : ops);
        } else {
          const patch = randomJson(r, 1) as Record<string, unknown>;
          const shaped = r.next() < 0.7 && patch && typeof patch === 'object' && !Array.isArray(patch);
          const obj: Record<string, unknown> = shaped ? patch : {};
          const key = r.pick([
            ...PROTO,
            '$patch',
            '$retainKeys',
            'metadata',
            'data',
            '$setElementOrder/x',
            '$deleteFromPrimitiveList/y',
          ]);
          Object.defineProperty(obj, key, {
            value: randomJson(r, 2),
            enumerable: true,
            writable: true,
            configurable: true,
          });
          if (r.next() < 0.3)
            obj.metadata = r.pick([
              null,
              {},
              { $patch: 'delete' },
              { name: 'other' },
              { labels: { [r.pick(PROTO)]: 'x' } },
            ]);
          body = JSON.stringify(shaped || r.next() < 0.5 ? obj : patch) ?? 'null';
        }
        const q =
          type === 'application/apply-patch+yaml' ? '?fieldManager=fuzz' : r.pick(['', '?fieldValidation=Strict']);
        const res = await send('PATCH', target + q, body, { 'Content-Type': type });
        assertClean(res, `PATCH ${type} ${body.slice(0, 100)}`);
      });
      const t = JSON.parse((await send('GET', target)).body);
      for (const k of PROTO) assert.equal(Object.hasOwn(t, k), false, `the target got a top-level "${k}"`);
      assert.equal(t.metadata.name, 'target');
    });

    cat('YAML bombs', async (r) => {
      await cases(n(400), async () => {
        const kind = r.int(4);
        let body: string;
        if (kind === 0) {
          const width = r.int(9) + 2,
            depth = r.int(9) + 2;
          const lines = [`a0: &a0 [${Array(width).fill('"lol"').join(',')}]`];
          for (let d = 1; d < depth; d++)
            lines.push(
              `a${d}: &a${d} [${Array(width)
                .fill(`*a${d - 1}`)
                .join(',')}]`,
            );
          body = `metadata: {name: bomb${r.int(1e6)}}\ndata:\n  ${lines.join('\n  ')}`;
        } else if (kind === 1) body = `metadata: {name: *${r.str(4, 'xyz')}}`;
        else if (kind === 2) body = '['.repeat(r.pick([10, 2000, 20_000])) + ']'.repeat(r.pick([0, 10, 20_000]));
        else
          body =
            `metadata:\n  name: y${r.int(1e6)}\n${'  - '.repeat(r.pick([1, 500, 5000]))}` +
            `x: !!${r.pick(['binary', 'js/function', 'set', 'omap', 'timestamp'])} ${r.str(10)}`;
        const type = r.pick(['application/yaml', 'application/apply-patch+yaml']);
        const res =
          type === 'application/yaml'
            ? await send('POST', cms, body, { 'Content-Type': type })
            : await send('PATCH', `${target}?fieldManager=fuzz`, body, { 'Content-Type': type });
        assertClean(res, `YAML ${body.slice(0, 80)}`);
      });
    });

    cat('bad selectors', async (r) => {
      const atoms = [
        'a',
        '=',
        '==',
        '!=',
        ',',
        'in',
        'notin',
        '(',
        ')',
        '!',
        ' ',
        'x.y/z',
        'metadata.name',
        'spec.nodeName',
        '%',
        '\u0000',
        '\u00e9',
      ];
      await cases(n(2500), async () => {
        const sel = Array.from({ length: r.int(8) }, () => r.pick(atoms)).join('');
        const p = r.pick(['labelSelector', 'fieldSelector']);
        const path = r.pick([cms, '/api/v1/configmaps', '/api/v1/pods', '/apis/apps/v1/deployments']);
        const res = await send('GET', `${path}?${p}=${encodeURIComponent(sel)}`);
        assertClean(res, `${p}=${sel}`, [200, 400]);
      });
    });

    cat('bad resourceVersion, limit and continue', async (r) => {
      const values = [
        '-1',
        '0',
        '1',
        'abc',
        '1.5',
        '1e3',
        '99999999999999999999',
        '18446744073709551616',
        '',
        ' 1',
        '0x10',
        '9007199254740993',
      ];
      await cases(n(2500), async () => {
        const params = new URLSearchParams();
        if (r.next() < 0.6) params.set('resourceVersion', r.pick(values));
        if (r.next() < 0.3) params.set('resourceVersionMatch', r.pick(['Exact', 'NotOlderThan', 'x', '']));
        if (r.next() < 0.5) params.set('limit', r.pick(values));
        if (r.next() < 0.4)
          params.set(
            'continue',
            r.pick([
              r.str(12),
              Buffer.from(
                JSON.stringify({
                  rv: r.pick([1, -1, Number.POSITIVE_INFINITY, 'x', 2 ** 60]),
                  start: r.pick(['/registry/core/configmaps/scratch/', '/etc/', '']),
                }),
              ).toString('base64'),
            ]),
          );
        const path = r.pick([cms, '/api/v1/configmaps', target]);
        const res = await send('GET', `${path}?${params}`);
        // 504 Timeout is upstream's answer to a resourceVersion newer than the store; 410 to an old one.
        const bad = res.status === 504 && JSON.parse(res.body).reason === 'Timeout';
        assertClean(bad ? { ...res, status: 499 } : res, `GET ?${params}`);
      });
    });

    cat('dot-segments, backslashes, empty segments, encoded slashes in every position', async (r) => {
      const templates = [
        ['api', 'v1', 'namespaces', 'keep', 'configmaps', 'a'],
        ['api', 'v1', 'namespaces', 'keep', 'configmaps'],
        ['api', 'v1', 'namespaces', 'keep'],
        ['api', 'v1', 'namespaces', 'keep', 'secrets', 's'],
        ['apis', 'apps', 'v1', 'namespaces', 'keep', 'deployments', 'd', 'scale'],
        ['api', 'v1', 'watch', 'namespaces', 'keep', 'configmaps'],
      ];
      await cases(n(3000), async () => {
        const segs = [...r.pick(templates)];
        const pos = r.int(segs.length + 1);
        const bad = r.pick(BAD_SEGMENTS);
        if (pos === segs.length) segs.push(bad);
        else if (r.next() < 0.5) segs[pos] = bad;
        else segs.splice(pos, 0, bad);
        const path = '/' + segs.join('/') + (r.next() < 0.2 ? '/' : '');
        const method = r.pick(['GET', 'DELETE', 'DELETE', 'PUT', 'PATCH', 'POST']);
        const body =
          method === 'GET' || method === 'DELETE'
            ? undefined
            : JSON.stringify({ metadata: { name: 'a', labels: { fuzz: 'x' } } });
        const headers: Record<string, string> =
          method === 'PATCH' ? { 'Content-Type': 'application/merge-patch+json' } : {};
        const res = await send(method, path, body, headers, false);
        assertClean(res, `${method} ${path}`);
        assert.ok(res.status >= 400, `${method} ${path}: ${res.status}`);
      });
    });

    cat('long URLs and headers', async (r) => {
      const plain = `Host: x\r\nConnection: close\r\nAuthorization: Bearer ${base.token}\r\n`;
      await cases(n(150), async () => {
        const len = r.pick([1000, 8000, 15_000, 17_000, 40_000, 100_000]);
        const mode = r.int(3);
        const text =
          mode === 0
            ? `GET ${cms}?labelSelector=${'a'.repeat(len)} HTTP/1.1\r\n${plain}\r\n`
            : mode === 1
              ? `GET ${cms} HTTP/1.1\r\n${plain}X-Long: ${'h'.repeat(len)}\r\n\r\n`
              : `GET ${cms}/${'n'.repeat(len)} HTTP/1.1\r\n${plain}${'X-Many: y\r\n'.repeat(Math.floor(len / 12))}\r\n`;
        const res = parseRaw(await rawBytes(base, text, 10_000));
        assertClean(res, `long ${mode} ${len}`);
        assert.ok(res.status > 0, 'an answer');
      });
    });

    cat('unknown methods', async (r) => {
      await cases(n(1500), async (i) => {
        if (i % 10 === 0) {
          const m = r.pick(['FROB', 'get', 'Get', 'G3T', 'PRI', 'BREW', r.str(6, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')]);
          const res = parseRaw(
            await rawBytes(
              base,
              `${m} ${cms} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer ${base.token}\r\n\r\n`,
              5000,
            ),
          );
          assertClean(res, `method ${m}`);
          assert.ok(res.status >= 400, `method ${m}: ${res.status}`);
          return;
        }
        const m = r.pick([
          'PROPFIND',
          'MKCOL',
          'COPY',
          'MOVE',
          'LOCK',
          'OPTIONS',
          'TRACE',
          'PURGE',
          'REPORT',
          'SEARCH',
          'HEAD',
        ]);
        const res = await send(m, r.pick([cms, target, '/api/v1/namespaces/keep']));
        assertClean(res, `method ${m}`);
        if (m !== 'HEAD') assert.ok(res.status >= 400, `method ${m}: ${res.status}`);
      });
    });

    cat('watch with garbage parameters', async (r) => {
      await cases(n(800), async () => {
        const params = new URLSearchParams({ watch: r.pick(['1', 'true', 'yes', '0', '']) });
        for (const p of [
          'timeoutSeconds',
          'resourceVersion',
          'allowWatchBookmarks',
          'sendInitialEvents',
          'labelSelector',
          'fieldSelector',
          'resourceVersionMatch',
          'limit',
        ])
          if (r.next() < 0.4)
            params.set(p, r.pick(['-1', '0', '1', 'abc', '99999999999999999999', 'true', 'a=b', '!!', '']));
        const path = r.pick([
          cms,
          '/api/v1/configmaps',
          '/api/v1/watch/namespaces/scratch/configmaps',
          '/api/v1/namespaces/nope/pods',
        ]);
        const res = await send('GET', `${path}?${params}`, undefined, {}, false);
        const tooNew = res.status === 504;
        assertClean(tooNew ? { ...res, status: 499 } : res, `watch ?${params}`);
      });
    });

    const started = Date.now();
    for (const [i, [name, fn]] of categories.entries()) {
      const t0 = Date.now();
      await fn(prng(SEED + i));
      assert.equal(srv.proc.exitCode ?? null, null, `${name}: the server is still running`);
      assert.equal(srv.proc.pid, pid);
      const r0 = Date.now();
      const ready = await raw(base, 'GET', '/readyz', undefined, {}, 2000);
      assert.equal(ready.status, 200, `${name}: /readyz`);
      assert.ok(Date.now() - r0 < 2000, `${name}: /readyz took ${Date.now() - r0} ms`);
      console.log(`fuzz ${name}: ${Date.now() - t0} ms`);
    }
    console.log(`fuzz total ${Date.now() - started} ms`);
    for (const [k, v] of before) assert.equal((await send('GET', k)).body, v, `${k} is byte-for-byte unchanged`);
    const scratch = JSON.parse((await send('GET', cms)).body).items.map(
      (o: { metadata: { name: string } }) => `scratch/${o.metadata.name}`,
    );
    const planted = scratch.filter((x: string) => refusedCreates.has(x) && !createdOk.has(x));
    assert.deepEqual(
      planted.map((p: string) => `${p}: ${refusedBy.get(p)}`),
      [],
      'nothing a 4xx tried to create exists',
    );
    const fuzzLabelled = JSON.parse((await send('GET', '/api/v1/configmaps?labelSelector=fuzz%3Dx')).body).items;
    assert.deepEqual(fuzzLabelled, [], 'no dot-segment request labelled anything');
  } finally {
    agent.destroy();
    srv.proc.kill('SIGTERM');
    const out = String((await srv.proc).all ?? '');
    // What the server logged about failed requests, for a failing run.
    const failures = out.split('\n').filter((l) => /failed|Error/.test(l) && !/leader/.test(l));
    if (failures.length) console.log(failures.slice(0, 30).join('\n'));
    rmSync(dir, { recursive: true, force: true });
  }
});
