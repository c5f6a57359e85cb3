// What a killed test leaves (its namespace set, a process inside, its blackhole route and its
// claim file) is removed by `skiff sandbox down --name ID`, and only once its process is gone.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { SKIFF } from '../helpers/server.ts';
import { until } from '../helpers/sandbox.ts';
import { blackholes, delNetns, netnsList, pidAlive, removeBlackholes, STATE_ROOT } from '../../agent/sandbox/host.ts';

const RANGE = '10.250.203.0/24';
const HELPER = pathToFileURL(join(import.meta.dirname, '../helpers/netns.ts')).href;

// The killed test: it makes its set, leaves a process in one namespace, says what it made, waits.
const CHILD = `
import { netnsSet } from ${JSON.stringify(HELPER)};
import { spawn } from 'node:child_process';
const set = await netnsSet('left', ['a', 'b'], [${JSON.stringify(RANGE)}]);
const p = spawn('nsenter', ['--net=/run/netns/' + set.names[0], 'sleep', '600'], { detached: true, stdio: 'ignore' });
p.unref();
console.log(JSON.stringify({ id: 't' + process.pid + '-left', names: set.names, sleeper: p.pid }));
setInterval(() => {}, 1000);
`;

let made: { id: string; names: string[]; sleeper: number } | undefined;
let childPid = 0;

after(async () => {
  // On failure: what the test made is removed here, by PID and by name.
  for (const pid of [childPid, made?.sleeper ?? 0]) if (pid > 1 && pidAlive(pid)) process.kill(pid, 'SIGKILL');
  for (const ns of made?.names ?? []) await delNetns(ns).catch(() => {});
  if (made) rmSync(join(STATE_ROOT, `${made.id}.json`), { force: true });
  await removeBlackholes([RANGE], made?.id ?? '');
});

test('skiff sandbox down removes what a killed test left, and refuses while its process runs', async () => {
  const child = execa(process.execPath, ['--input-type=module', '-e', CHILD], { reject: false });
  childPid = child.pid ?? 0;
  made = await new Promise((resolve, reject) => {
    child.stdout?.once('data', (d: Buffer) => resolve(JSON.parse(String(d))));
    child.once('exit', () => reject(new Error('the child ended before making its set')));
  });
  const { id, names, sleeper } = made!;
  assert.ok((await blackholes()).includes(RANGE), 'its route is in place');
  const before = await netnsList();
  assert.ok(
    names.every((n) => before.includes(n)),
    'its namespaces are there',
  );

  const early = await execa(SKIFF, ['sandbox', 'down', '--name', id], { reject: false });
  assert.equal(early.exitCode, 1, early.stdout);
  assert.match(String(early.stderr), new RegExp(`process ${childPid}, which is still running`));
  assert.equal(String(early.stderr).trim().split('\n').length, 1, 'one line');
  const have = await netnsList();
  assert.ok(
    names.every((n) => have.includes(n)),
    'nothing removed under a live owner',
  );

  child.kill('SIGKILL');
  await child;
  const listed = await execa(SKIFF, ['sandbox', 'list'], { reject: false });
  assert.match(String(listed.stdout), new RegExp(`^${id}\\tleft by process ${childPid}`, 'm'));

  const down = await execa(SKIFF, ['sandbox', 'down', '--name', id], { reject: false, all: true });
  assert.equal(down.exitCode, 0, down.all);
  const left = await netnsList();
  assert.deepEqual(
    names.filter((n) => left.includes(n)),
    [],
  );
  assert.ok(!(await blackholes()).includes(RANGE), 'its route is gone');
  assert.ok(!existsSync(join(STATE_ROOT, `${id}.json`)), 'its claim is gone');
  await until('the process it left in its namespace is ended', async () => !pidAlive(sleeper));

  const again = await execa(SKIFF, ['sandbox', 'down', '--name', id], { reject: false });
  assert.equal(again.exitCode, 1);
  assert.match(String(again.stderr), /no sandbox named/);
  const bad = await execa(SKIFF, ['sandbox', 'down', '--name', '../../etc/x'], { reject: false });
  assert.equal(bad.exitCode, 1);
  assert.match(String(bad.stderr), /invalid sandbox name/);
});
