// The test runner's own rules, on small fixture files run for real: a file that outlives its
// limit is killed and counted as failed, one that exits early counts its missing tests as
// failed, and skipped tests are told apart from passed ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readSource, runFile, verdict } from '../runner.ts';
import { ROOT } from '../helpers/server.ts';

const fixture = (name: string) => join(ROOT, 'test/fixtures/runner', `${name}.fixture.ts`);

test('a file that never exits is killed at its limit and counts as failed', async () => {
  const o = await runFile(fixture('hangs'), 3000, ROOT);
  assert.ok(o.killed);
  const v = verdict(o, readSource(fixture('hangs')));
  assert.equal(v.failed, 1);
  assert.match(v.problems[0], /killed after/);
});

test('a file that exits early counts the tests it did not run as failed', async () => {
  const o = await runFile(fixture('exits-early'), 60_000, ROOT);
  const v = verdict(o, readSource(fixture('exits-early')));
  assert.ok(v.failed >= 1, JSON.stringify(v));
  assert.ok(
    v.problems.some((p) => /ended early|without node:test's summary|failed/.test(p)),
    v.problems.join('; '),
  );
});

test('passed and skipped are counted apart', async () => {
  const o = await runFile(fixture('passes'), 60_000, ROOT);
  assert.deepEqual(verdict(o, readSource(fixture('passes'))), { passed: 2, failed: 0, skipped: 1, problems: [] });
});
