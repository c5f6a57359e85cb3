// What a killed test leaves (its namespace set, a process inside, its blackhole route and its
// claim file) is removed by `skiff sandbox down --name ID`, and only once its process is gone;
// a claim that names a namespace not its own, or none, is refused.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { SKIFF } from '../helpers/server.ts';
import { until } from '../helpers/sandbox.ts';
import {
  addNetns,
  blackholes,
  delNetns,
  netnsList,
  processRuns,
  removeBlackholes,
  STATE_ROOT,
} from '../../agent/sandbox/host.ts';

const RANGE = '10.250.203.0/24';
const HELPER = pathToFileURL(join(import.meta.dirname, '../helpers/netns.ts')).href;

// The killed test: it makes its set, leaves a process in one namespace, says what it made, waits.
const CHILD = `
import { netnsSet } from ${JSON.stringify(HELPER)};
import { spawn } from 'node:child_process';
const set = await netnsSet('left', ['a', 'b'], [${JSON.stringify(RANGE)}]);
const p = spawn('nsenter', ['--net=/run/netns/' + set.names[0], 'sleep', '600'], { detached: true, stdio: 'ignore' });
p.unref();
console.log(JSON.stringify({ names: set.names, sleeper: p.pid }));
setInterval(() => {}, 1000);
`;

let childPid = 0;
let sleeper = 0;
/** A namespace standing for another sandbox's, which a forged claim names. */
const VICTIM = `skv${process.pid}`;
const FORGED = [`forged${process.pid}`, `old${process.pid}`];
const idOf = (pid: number) => `t${pid}-left`;
const skiff = (args: string[]) => execa(SKIFF, args, { reject: false, all: true });

after(async () => {
  // On failure: what the test made is removed here, by PID and by name.
  for (const pid of [childPid, sleeper]) if (pid > 1 && processRuns(pid)) process.kill(pid, 'SIGKILL');
  if (childPid) {
    for (const n of ['a', 'b']) await delNetns(`${idOf(childPid)}-${n}`).catch(() => {});
    rmSync(join(STATE_ROOT, `${idOf(childPid)}.json`), { force: true });
    await removeBlackholes([RANGE], idOf(childPid));
  }
  await delNetns(VICTIM).catch(() => {});
  for (const f of FORGED) rmSync(join(STATE_ROOT, `${f}.json`), { force: true });
});

test('skiff sandbox down removes what a killed test left, and refuses while its process runs', async () => {
  const child = execa(process.execPath, ['--input-type=module', '-e', CHILD], { reject: false });
  childPid = child.pid ?? 0;
  const said: { names: string[]; sleeper: number } = await new Promise((resolve, reject) => {
    child.stdout?.once('data', (d: Buffer) => {
      try {
        resolve(JSON.parse(String(d)));
      } catch (e) {
        reject(e);
      }
    });
    child.once('exit', () => reject(new Error('the child ended before making its set')));
  });
  sleeper = said.sleeper;
  const id = idOf(childPid);
  const { names } = said;
  assert.ok((await blackholes()).includes(RANGE), 'its route is in place');
  const before = await netnsList();
  assert.ok(
    names.every((n) => before.includes(n)),
    'its namespaces are there',
  );

  const early = await skiff(['sandbox', 'down', '--name', id]);
  assert.equal(early.exitCode, 1, early.all);
  assert.match(String(early.stderr), new RegExp(`process ${childPid}, which is still running`));
  assert.equal(String(early.stderr).trim().split('\n').length, 1, 'one line');
  const have = await netnsList();
  assert.ok(
    names.every((n) => have.includes(n)),
    'nothing removed under a live owner',
  );

  child.kill('SIGKILL');
  await child;
  const listed = await skiff(['sandbox', 'list']);
  assert.match(String(listed.stdout), new RegExp(`^${id}\\tleft by process ${childPid}`, 'm'));
  const kubectl = await skiff(['sandbox', 'kubectl', '--name', id, '--', 'get', 'nodes']);
  assert.equal(kubectl.exitCode, 1);
  assert.match(String(kubectl.stderr), /is a test's claim .*not a sandbox/);

  const down = await skiff(['sandbox', 'down', '--name', id]);
  assert.equal(down.exitCode, 0, down.all);
  const left = await netnsList();
  assert.deepEqual(
    names.filter((n) => left.includes(n)),
    [],
  );
  assert.ok(!(await blackholes()).includes(RANGE), 'its route is gone');
  assert.ok(!existsSync(join(STATE_ROOT, `${id}.json`)), 'its claim is gone');
  await until('the process it left in its namespace is ended', async () => !processRuns(sleeper));

  const again = await skiff(['sandbox', 'down', '--name', id]);
  assert.equal(again.exitCode, 1);
  assert.match(String(again.stderr), /no sandbox named/);
  const bad = await skiff(['sandbox', 'down', '--name', '../../etc/x']);
  assert.equal(bad.exitCode, 1);
  assert.match(String(bad.stderr), /invalid sandbox name/);
});

test('skiff sandbox down refuses a claim naming a namespace not its own, or none', async () => {
  await addNetns(VICTIM);
  // A dead owner: a start time no process has.
  const dead = { ranges: [], ownerPid: process.pid, ownerStart: -1 };
  writeFileSync(join(STATE_ROOT, `${FORGED[0]}.json`), JSON.stringify({ ...dead, namespaces: [VICTIM] }));
  writeFileSync(join(STATE_ROOT, `${FORGED[1]}.json`), JSON.stringify(dead));
  const forged = await skiff(['sandbox', 'down', '--name', FORGED[0]]);
  assert.equal(forged.exitCode, 1, forged.all);
  assert.match(String(forged.stderr), new RegExp(`not its own \\(${VICTIM}\\)`));
  assert.ok((await netnsList()).includes(VICTIM), 'the other namespace is untouched');
  const old = await skiff(['sandbox', 'down', '--name', FORGED[1]]);
  assert.equal(old.exitCode, 1, old.all);
  assert.match(String(old.stderr), /lists no namespaces/);
  assert.ok(existsSync(join(STATE_ROOT, `${FORGED[1]}.json`)), 'the claim stays for whoever removes it by hand');
});
