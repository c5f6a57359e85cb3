// procStat against real processes: this one, a child whose command name holds ") " (the fields
// start after the last parenthesis), a zombie, and one that is gone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { procStat } from '../../agent/host/proc-stat.ts';
import { until } from '../helpers/sandbox.ts';

test('procStat reads this process, a child named with ") ", a zombie and a process that is gone', async (t) => {
  const self = procStat(process.pid);
  assert.ok(self);
  assert.equal(self.ppid, process.ppid);
  assert.match(self.state, /^[RS]$/);
  assert.ok(self.start > 0);
  // Busy until now: some CPU time is on record.
  assert.ok(self.cpuSeconds > 0, `cpu ${self.cpuSeconds}`);

  const dir = mkdtempSync(join(tmpdir(), 'skiff-procstat-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const odd = join(dir, 'a) b S 1');
  copyFileSync('/bin/sleep', odd);
  // A shell parent that does not reap: its child stays a zombie until the shell ends.
  const parent = spawn('sh', ['-c', `${JSON.stringify(odd)} 0.2 & exec sleep 30`], { stdio: 'ignore' });
  t.after(() => parent.kill('SIGKILL'));
  const childPid = await until(
    'the child started',
    async () => {
      const kids = readFileSync(`/proc/${parent.pid}/task/${parent.pid}/children`, 'utf8').trim().split(/\s+/);
      return kids[0] ? Number(kids[0]) : undefined;
    },
    5_000,
  );
  const child = procStat(childPid);
  assert.ok(child);
  assert.equal(child.ppid, parent.pid, 'the fields are read after the name, not inside it');
  assert.ok(child.start >= self.start);
  await until('the child a zombie', async () => procStat(childPid)?.state === 'Z', 5_000);

  parent.kill('SIGKILL');
  // Reaped by this process (its parent), so its PID names nothing.
  await until('the parent gone', async () => procStat(parent.pid!) === null, 5_000);
});
