// The whole test suite: type check, then every test file under test/ with node:test.
// Ends with the line "N passed, N failed" that CI reads.
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { spawnSync } from 'node:child_process';
import { readdirSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const only = process.argv.slice(2);
let passed = 0,
  failed = 0;

if (!only.length || only.includes('typecheck')) {
  const tsc = spawnSync(
    process.execPath,
    [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')],
    { stdio: 'inherit' },
  );
  if (tsc.status === 0) {
    passed++;
    console.log('✔ typecheck (tsc --noEmit, strict)');
  } else {
    failed++;
    console.log('✖ typecheck failed');
  }
}

if (!only.length || only.includes('lint')) {
  // Formatting and lint (Biome): a formatting difference or a lint error fails the run.
  const biome = spawnSync(join(root, 'node_modules/.bin/biome'), ['ci', '--colors=off', root], { stdio: 'inherit' });
  if (biome.status === 0) {
    passed++;
    console.log('✔ format and lint (biome ci)');
  } else {
    failed++;
    console.log('✖ format or lint failed (node_modules/.bin/biome check --write . fixes the formatting)');
  }
}

const layers = ['unit', 'integration', 'e2e'];
const files: string[] = [];
for (const layer of layers) {
  const dir = join(root, 'test', layer);
  if (!existsSync(dir)) continue;
  for (const f of readdirSync(dir).sort()) if (f.endsWith('.test.ts')) files.push(join(dir, f));
}
const selected = only.filter((o) => o !== 'typecheck' && o !== 'lint');
const chosen = selected.length ? files.filter((f) => selected.some((s) => f.includes(s))) : files;

process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --disable-warning=ExperimentalWarning`.trim();
const stream = run({ files: chosen, concurrency: 2, timeout: 15 * 60_000 });
stream.on('test:pass', (d) => {
  if (d.details.type !== 'suite') passed++;
});
stream.on('test:fail', (d) => {
  if (d.details.type !== 'suite') failed++;
});
stream.compose(spec).pipe(process.stdout);
stream.on('end', () => {
  // Let the reporter flush before the closing line.
  setTimeout(() => {
    console.log(`\n${passed} passed, ${failed} failed`);
    process.exitCode = failed ? 1 : 0;
  }, 200);
});
