// Two sets sharing a range, each adding and removing its blackhole route over and over: while a
// set holds its claim, the route is there. Without the lock around adding and removing, one set
// finds the route there (so adds nothing) while the other, having read the claims before, removes it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { addBlackholes, blackholes, removeBlackholes, STATE_ROOT, writeReservation } from '../../agent/sandbox/host.ts';

const RANGE = '10.250.204.0/24';
const CYCLES = 25;
const ids: string[] = [];

after(async () => {
  for (const id of ids) rmSync(join(STATE_ROOT, `${id}.json`), { force: true });
  await removeBlackholes([RANGE], '');
});

test('a shared blackhole route stays while any set that claims it runs', async () => {
  assert.ok(!(await blackholes()).includes(RANGE), `${RANGE} is free to begin with`);
  const missing: string[] = [];
  const set = async (who: string) => {
    for (let i = 0; i < CYCLES; i++) {
      const id = `t${process.pid}-race-${who}${i}`;
      ids.push(id);
      writeReservation(id, [RANGE], []);
      await addBlackholes([RANGE]);
      // Looked at twice, as a test using the range would rely on it for a while.
      for (const look of [1, 2]) if (!(await blackholes()).includes(RANGE)) missing.push(`${id} look ${look}`);
      // As every set does: its claim goes first, then the routes no other claim lists.
      rmSync(join(STATE_ROOT, `${id}.json`), { force: true });
      await removeBlackholes([RANGE], id);
      // A while without a claim, as between two tests, so the other set can find none.
      await blackholes();
    }
  };
  await Promise.all([set('a'), set('b')]);
  assert.deepEqual(missing, [], 'the route was gone while a claim named it');
  assert.ok(!(await blackholes()).includes(RANGE), 'the last set out removed it');
});
