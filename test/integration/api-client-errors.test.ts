// Client mistakes are 4xx Statuses, never a 500 and never a stack trace or a server path:
// prototype names in patches, metadata-less patch results, strategic directives misused, deep
// nesting, YAML alias bombs, out-of-range limits and resourceVersions, invalid UTF-8.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, startTestServer } from '../helpers/server.ts';
import { raw } from '../helpers/raw.ts';

const MERGE = { 'Content-Type': 'application/merge-patch+json' };
const STRATEGIC = { 'Content-Type': 'application/strategic-merge-patch+json' };
const JSONPATCH = { 'Content-Type': 'application/json-patch+json' };
const APPLY = { 'Content-Type': 'application/apply-patch+yaml' };
const YAML = { 'Content-Type': 'application/yaml' };

export function assertCleanStatus(r: { status: number; body: string }, label: string): void {
  assert.ok(r.status >= 400 && r.status < 500, `${label}: ${r.status} ${r.body.slice(0, 300)}`);
  const st = JSON.parse(r.body);
  assert.equal(st.kind, 'Status', label);
  assert.equal(st.code, r.status, label);
  assert.ok(st.details, `${label}: details`);
  assert.doesNotMatch(r.body, /\n\s+at |\\n\s+at |\.ts:\d|\/work\/|node:internal/, `${label}: no stack trace or path`);
}

test('client errors are 4xx Statuses without stack traces, and change nothing', async () => {
  const s = await startTestServer();
  const base = credentials(s.kubeconfig);
  try {
    const cms = '/api/v1/namespaces/default/configmaps';
    const cm = `${cms}/keep`;
    const created = await raw(base, 'POST', cms, JSON.stringify({ metadata: { name: 'keep' }, data: { k: 'v' } }));
    assert.equal(created.status, 201);
    const before = (await raw(base, 'GET', cm)).body;
    const deep = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
    const deepArr = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const hugeRvToken = Buffer.from('{"rv":1e400,"start":"/registry/core/configmaps/default/"}').toString('base64');
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
      .concat(
        Array.from(
          { length: 9 },
          (_, i) =>
            `${'bcdefghij'[i]}: &${'bcdefghij'[i]} [${Array(9)
              .fill(`*${i === 0 ? 'a' : 'bcdefghij'[i - 1]}`)
              .join(',')}]`,
        ),
      )
      .join('\n');
    const cases: [string, string, string | Buffer | undefined, Record<string, string>, number[]][] = [
      ['PATCH', cm, '[{"op":"replace","path":"/data/hasOwnProperty","value":"x"}]', JSONPATCH, [422]],
      ['PATCH', cm, '[{"op":"remove","path":"/data/toString"}]', JSONPATCH, [422]],
      ['PATCH', cm, '[{"op":"replace","path":"/data/__proto__","value":"x"}]', JSONPATCH, [422]],
      ['PATCH', `${cm}?fieldValidation=Strict`, '{"constructor":{"prototype":{"x":1}}}', MERGE, [400]],
      ['PATCH', `${cm}?fieldValidation=Strict`, '{"__proto__":{"x":1}}', STRATEGIC, [400]],
      ['PATCH', `${cm}?fieldValidation=Strict`, '{"metadata":{"constructor":{"x":1}}}', MERGE, [400]],
      ['PATCH', cm, '{"metadata":null}', MERGE, [400, 422]],
      ['PATCH', cm, '{"metadata":null}', STRATEGIC, [400, 422]],
      ['PATCH', cm, '{"$patch":"replace"}', STRATEGIC, [400, 422]],
      ['PATCH', cm, '{"$patch":"delete"}', STRATEGIC, [400, 422]],
      ['PATCH', cm, '{"metadata":{"$patch":"delete"}}', STRATEGIC, [400, 422]],
      ['PATCH', cm, '{"$retainKeys":[]}', STRATEGIC, [400, 422]],
      ['PATCH', cm, '{"$retainKeys":"x","data":{"$retainKeys":[1]}}', STRATEGIC, [400, 422]],
      ['PATCH', cm, '[{"op":"add","path":"","value":null}]', JSONPATCH, [400, 422]],
      ['PATCH', cm, '[{"op":"replace","path":"/metadata","value":7}]', JSONPATCH, [400, 422]],
      ['PATCH', cm, '{"metadata":[]}', MERGE, [400, 422]],
      ['PATCH', cm, '"x"', MERGE, [400, 422]],
      ['PATCH', `${cm}?fieldManager=m`, 'a: *nope', APPLY, [400]],
      ['PATCH', `${cm}?fieldManager=m`, bomb, APPLY, [400]],
      ['POST', cms, bomb, YAML, [400]],
      ['POST', cms, 'metadata: {name: *x}', YAML, [400]],
      ['POST', cms, deep(10_000), {}, [400]],
      ['POST', cms, deep(100_000), {}, [400]],
      ['POST', cms, deepArr(100_000), {}, [400]],
      ['POST', cms, '- '.repeat(10_000) + 'x', YAML, [400]],
      ['POST', cms, '['.repeat(10_000) + ']'.repeat(10_000), YAML, [400]],
      ['PATCH', cm, deep(10_000), MERGE, [400]],
      ['PATCH', cm, deep(100_000), STRATEGIC, [400]],
      ['PUT', cm, deep(100_000), {}, [400]],
      ['PATCH', cm, `{"data":{"k":${deep(5_000)}}}`, MERGE, [400]],
      [
        'POST',
        cms,
        Buffer.from([...Buffer.from('{"metadata":{"name":"u'), 0xff, 0xfe, ...Buffer.from('"}}')]),
        {},
        [400],
      ],
      [
        'POST',
        cms,
        Buffer.from([...Buffer.from('{"metadata":{"name":"u2"},"data":{"a":"'), 0xc3, 0x28, ...Buffer.from('"}}')]),
        {},
        [400],
      ],
      ['GET', `${cms}?limit=99999999999999999999`, undefined, {}, [400]],
      ['GET', `${cms}?limit=1e3`, undefined, {}, [400]],
      ['GET', `${cms}?resourceVersion=18446744073709551616`, undefined, {}, [400]],
      ['GET', `${cms}?resourceVersion=99999999999999999999&resourceVersionMatch=Exact`, undefined, {}, [400]],
      ['GET', `${cms}?resourceVersion=-5`, undefined, {}, [400]],
      ['GET', `${cms}?resourceVersion=1.5`, undefined, {}, [400]],
      ['GET', `${cms}?watch=1&resourceVersion=18446744073709551616`, undefined, {}, [400]],
      ['GET', `${cms}?watch=1&resourceVersion=abc`, undefined, {}, [400]],
      ['GET', `${cms}?watch=1&timeoutSeconds=99999999999999999999`, undefined, {}, [400]],
      ['GET', `${cms}?continue=${hugeRvToken}`, undefined, {}, [400]],
      ['DELETE', `${cm}?gracePeriodSeconds=99999999999999999999`, undefined, {}, [400]],
      [
        'PUT',
        cm,
        JSON.stringify({ metadata: { name: 'keep', resourceVersion: '18446744073709551616' } }),
        {},
        [400, 409],
      ],
    ];
    for (const [method, path, body, headers, codes] of cases) {
      const r = await raw(base, method, path, body, headers);
      const label = `${method} ${path.slice(0, 120)} ${String(body).slice(0, 60)}`;
      assertCleanStatus(r, label);
      assert.ok(codes.includes(r.status), `${label}: ${r.status} not in ${codes}: ${r.body.slice(0, 300)}`);
      assert.equal((await raw(base, 'GET', cm)).body, before, `${label}: the object is unchanged`);
    }
    const names = (await raw(base, 'GET', cms))
      .json()
      .items.map((i: { metadata: { name: string } }) => i.metadata.name);
    assert.deepEqual(names, ['keep'], 'nothing a 4xx tried to create exists');
    // Under the default (Warn) validation an unknown prototype name is dropped with a warning, never stored.
    const warned = await raw(base, 'PATCH', cm, '{"constructor":{"prototype":{"x":1}},"data":{"k2":"v"}}', MERGE);
    assert.equal(warned.status, 200, warned.body);
    assert.match(String(warned.headers.warning), /unknown field \\?"constructor/);
    assert.equal(Object.hasOwn(JSON.parse((await raw(base, 'GET', cm)).body), 'constructor'), false);
  } finally {
    await s.stop();
  }
});
