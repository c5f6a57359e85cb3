// The whole test suite: type check, format and lint, then every test file under test/unit,
// test/integration, test/e2e and test/vagrant (real VMs), two files at a time, each in its own process group under a
// wall-clock limit. Ends with the line "N passed, N failed, N skipped" that CI reads.
//
// A file counts as failed, by name, when it outlives its limit (its whole process group is
// killed, so servers and etcd members it started cannot hang the run), exits without node:test's
// summary, exits non-zero, or reports fewer tests than it declares (it ended early). A run in
// which no test ran fails.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { longLines, readSource, runFile, stopAll, verdict, type Outcome } from './runner.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const only = process.argv.slice(2);
const totals = { passed: 0, failed: 0, skipped: 0 };
const failures: string[] = [];

function step(name: string, ok: boolean, hint: string) {
  if (ok) {
    totals.passed++;
    console.log(`✔ ${name}`);
  } else {
    totals.failed++;
    failures.push(name);
    console.log(`✖ ${name} (${hint})`);
  }
}

if (!only.length || only.includes('typecheck')) {
  const tsc = spawnSync(
    process.execPath,
    [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')],
    { stdio: 'inherit' },
  );
  step('typecheck (tsc --noEmit, strict)', tsc.status === 0, 'see the errors above');
}

if (!only.length || only.includes('lint')) {
  const biome = spawnSync(join(root, 'node_modules/.bin/biome'), ['ci', '--colors=off', root], { stdio: 'inherit' });
  step('format and lint (biome ci)', biome.status === 0, 'node_modules/.bin/biome check --write . fixes formatting');
  // The formatter cannot break a long string or comment: lines over 120 characters are refused here.
  const tracked = spawnSync('git', ['ls-files', '-co', '--exclude-standard', '*.ts'], { cwd: root, encoding: 'utf8' });
  const long = longLines(root, tracked.stdout.split('\n').filter(Boolean), 120);
  for (const l of long.slice(0, 20)) console.log(`  ${l}`);
  step('lines of at most 120 characters', long.length === 0, `${long.length} longer`);
}

/** Wall-clock limit of one test file, by layer. */
// The vagrant tier builds (or takes from the cache) a box and boots VMs under emulation.
const LIMIT_MS: Record<string, number> = {
  unit: 3 * 60_000,
  integration: 12 * 60_000,
  e2e: 25 * 60_000,
  vagrant: 40 * 60_000,
};
const files: { path: string; layer: string }[] = [];
// SKIFF_TEST_VAGRANT=0 leaves the VM tier out (a machine without the room for two VMs).
const layers = ['unit', 'integration', 'e2e'];
if (process.env.SKIFF_TEST_VAGRANT !== '0' || only.some((o) => o.startsWith('vagrant'))) layers.push('vagrant');
for (const layer of layers) {
  const dir = join(root, 'test', layer);
  if (!existsSync(dir)) continue;
  for (const f of readdirSync(dir).sort()) if (f.endsWith('.test.ts')) files.push({ path: join(dir, f), layer });
}
const selected = only.filter((o) => o !== 'typecheck' && o !== 'lint');
// Only `typecheck` or `lint` asked for: no test files.
const chosen = selected.length
  ? files.filter((f) => selected.some((s) => f.path.includes(s)))
  : only.length
    ? []
    : files;

function account(path: string, o: Outcome) {
  const name = relative(root, path);
  console.log(`\n── ${name} (${(o.ms / 1000).toFixed(1)} s)\n${o.output.trimEnd()}`);
  const v = verdict(o, readSource(path));
  totals.passed += v.passed;
  totals.failed += v.failed;
  totals.skipped += v.skipped;
  for (const p of v.problems) {
    failures.push(`${name}: ${p}`);
    console.log(`✖ ${name}: ${p}`);
  }
}

// A runner stopped by a signal stops its files' process groups too (each file is its own group).
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => {
    stopAll();
    process.exit(130);
  });

// Two files at a time; VMs under software emulation need the machine to themselves, so the
// vagrant tier runs alone after everything else (with the files in ALONE).
async function runAll(list: typeof files, parallel: number) {
  const queue = [...list];
  const workers = Array.from({ length: Math.min(parallel, queue.length) }, async () => {
    for (let f = queue.shift(); f; f = queue.shift()) {
      console.log(`▶ ${relative(root, f.path)}`);
      account(f.path, await runFile(f.path, LIMIT_MS[f.layer], root));
    }
  });
  await Promise.all(workers);
}
// Files that start a hundred processes at once (integration/runtime: 100 sandboxes, a CNI plugin
// process each) run alone too: beside another file on 2 cores they took over 6 minutes.
const ALONE = ['integration/runtime.test.ts'];
const alone = (f: (typeof files)[number]) => f.layer === 'vagrant' || ALONE.some((a) => f.path.endsWith(a));
await runAll(
  chosen.filter((f) => !alone(f)),
  2,
);
await runAll(
  chosen.filter((f) => alone(f)),
  1,
);

if (totals.passed + totals.failed === 0) {
  totals.failed++;
  failures.push('no test ran');
}
if (failures.length) console.log(`\nFailures:\n${failures.map((f) => `  ✖ ${f}`).join('\n')}`);
console.log(`\n${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exitCode = totals.failed ? 1 : 0;
