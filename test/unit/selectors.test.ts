import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchFields, parseFieldSelector, parseLabelSelector } from '../../controlplane/api/selectors.ts';
import {
  matchesLabelSelector,
  matchesSelectorMap,
  matchRequirements as matchLabels,
} from '../../controlplane/shared/labels.ts';
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

test('one matcher for LabelSelector objects and map selectors; prototype names are plain labels', () => {
  const labels = { app: 'web', tier: 'front' };
  const cases: [Parameters<typeof matchesLabelSelector>[0], Record<string, string> | undefined, boolean][] = [
    [undefined, labels, false], // no selector selects nothing
    [{}, labels, true], // an empty one selects everything
    [{ matchLabels: { app: 'web' } }, labels, true],
    [{ matchLabels: { app: 'db' } }, labels, false],
    [{ matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'back'] }] }, labels, true],
    [{ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] }, labels, false],
    [{ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, labels, true],
    [{ matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, labels, false],
    [{ matchExpressions: [{ key: 'toString', operator: 'DoesNotExist' }] }, {}, true],
    [{ matchExpressions: [{ key: 'app', operator: 'Bogus' as 'In' }] }, labels, false],
  ];
  for (const [sel, l, want] of cases) assert.equal(matchesLabelSelector(sel, l), want, JSON.stringify(sel));
  assert.equal(matchesSelectorMap({ app: 'web' }, labels), true);
  assert.equal(matchesSelectorMap({ __proto__: 'x' } as Record<string, string>, labels), true); // no own key
  assert.equal(matchesSelectorMap({ app: 'web', hasOwnProperty: 'y' }, labels), false);
});
