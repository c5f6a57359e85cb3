import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchFields, matchLabels, parseFieldSelector, parseLabelSelector } from '../../controlplane/api/selectors.ts';
import { ApiError } from '../../controlplane/api/status.ts';

const labels = { app: 'web', tier: 'front', 'example.com/team': 'a' };

test('label selectors match as Kubernetes does', () => {
  const cases: [string, boolean][] = [
    ['', true],
    ['app=web', true],
    ['app==web', true],
    ['app!=web', false],
    ['app!=db', true],
    ['missing!=x', true],
    ['app in (web,db)', true],
    ['app in (db)', false],
    ['app notin (db)', true],
    ['app notin (web)', false],
    ['tier', true],
    ['missing', false],
    ['!missing', true],
    ['!tier', false],
    ['app=web,tier=front', true],
    ['app=web,tier=back', false],
    ['example.com/team=a', true],
    ['app in (web, db),!missing', true],
  ];
  for (const [sel, want] of cases) assert.equal(matchLabels(parseLabelSelector(sel), labels), want, sel);
});

test('bad label selectors are 400s', () => {
  for (const sel of ['app=web=x', 'app in web', '=x', 'app=a b', 'in (x)', 'Bad Key=x']) {
    assert.throws(
      () => parseLabelSelector(sel),
      (e: unknown) => e instanceof ApiError && e.code === 400,
      sel,
    );
  }
});

test('field selectors: supported fields per kind, others refused', () => {
  const pod = { metadata: { name: 'p', namespace: 'ns' }, spec: { nodeName: 'n1' }, status: { phase: 'Running' } };
  assert.equal(matchFields(parseFieldSelector('Pod', 'spec.nodeName=n1,status.phase!=Failed'), pod), true);
  assert.equal(matchFields(parseFieldSelector('Pod', 'spec.nodeName=n2'), pod), false);
  assert.equal(matchFields(parseFieldSelector('Pod', 'metadata.name=p'), pod), true);
  assert.equal(matchFields(parseFieldSelector('Pod', 'spec.nodeName='), { metadata: { name: 'q' }, spec: {} }), true);
  const ev = { metadata: { name: 'e' }, involvedObject: { kind: 'Pod', name: 'p', namespace: 'ns' } };
  assert.equal(matchFields(parseFieldSelector('Event', 'involvedObject.name=p,involvedObject.kind=Pod'), ev), true);
  assert.throws(() => parseFieldSelector('ConfigMap', 'data.x=1'), /field label not supported/);
  assert.throws(() => parseFieldSelector('Pod', 'garbage'), /invalid selector/);
});
