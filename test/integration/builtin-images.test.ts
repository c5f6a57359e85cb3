// The built-in images are built once per cache even when several agents start at the same
// moment on an empty cache (as `skiff sandbox up` does): every process gets the same tarball,
// byte for byte, and the pause binary inside it is a whole program that runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT, tempDir } from '../helpers/server.ts';
import { until } from '../helpers/sandbox.ts';

const NODE = join(ROOT, 'node_modules/.bin/node');
const BUILD = `
import { builtinImagesTar } from ${JSON.stringify(join(ROOT, 'agent/images/builtin.ts'))};
const file = await builtinImagesTar(process.argv[1]);
const { createHash } = await import('node:crypto');
const { readFileSync } = await import('node:fs');
console.log(createHash('sha256').update(readFileSync(file)).digest('hex'));
`;

test('three processes building the built-in images at once on an empty cache get identical images', {
  timeout: 180_000,
}, async () => {
  for (let round = 0; round < 2; round++) {
    const cache = tempDir('images');
    try {
      const runs = await Promise.all(
        [0, 1, 2].map(() =>
          execa(NODE, ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', BUILD, cache], {
            reject: false,
            timeout: 150_000,
          }),
        ),
      );
      for (const r of runs) assert.equal(r.exitCode, 0, r.stderr);
      const sums = runs.map((r) => r.stdout.trim());
      assert.equal(new Set(sums).size, 1, `different tarballs: ${sums.join(' ')}`);
      const tar = readFileSync(join(cache, 'builtin-images.tar'));
      assert.equal(createHash('sha256').update(tar).digest('hex'), sums[0]);
      // The compiled pause program is whole: it starts, sleeps, and exits 0 on TERM.
      const pause = execa(join(cache, 'pause'), [], { reject: false, timeout: 10_000 });
      await until('pause to be asleep', async () => {
        const status = readFileSync(`/proc/${pause.pid}/status`, 'utf8');
        return /^State:\s+S/m.test(status) && /^SigCgt:\s+0*[1-9a-f]/m.test(status);
      });
      pause.kill('SIGTERM');
      const p = await pause;
      assert.equal(p.signal ?? null, null, `pause died by ${p.signal}`);
      assert.equal(p.exitCode, 0);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }
});
