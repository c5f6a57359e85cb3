// Runs one test file the way test/run.ts does and judges its outcome: a pure verdict over what
// the file printed and how it ended, so the runner's own rules are unit-tested.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The number of test() / it() calls written in a file: a lower bound of what it must report. */
export function declared(source: string): number {
  return (source.match(/^\s*(?:test|it)\(\s*['"`]/gm) ?? []).length;
}

export interface Outcome {
  output: string;
  code: number | null;
  killed: boolean;
  ms: number;
}

const running = new Set<number>();

/** Kills the process group of every file still running (the runner itself is being stopped). */
export function stopAll(): void {
  for (const pgid of running) {
    try {
      process.kill(-pgid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
}

/** Runs `node --test FILE` in its own process group; past limitMs the whole group is killed. */
export function runFile(path: string, limitMs: number, cwd: string): Promise<Outcome> {
  const started = Date.now();
  const child = spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', '--test', '--test-reporter=spec', `--test-timeout=${15 * 60_000}`, path],
    // Without NODE_TEST_CONTEXT: a runner started from inside a test must report, not relay.
    { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_TEST_CONTEXT: undefined } },
  );
  running.add(child.pid!);
  let output = '';
  child.stdout.on('data', (c) => (output += c));
  child.stderr.on('data', (c) => (output += c));
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    try {
      process.kill(-child.pid!, 'SIGKILL'); // the whole group: the file and what it started
    } catch {
      /* already gone */
    }
  }, limitMs);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      running.delete(child.pid!);
      clearTimeout(timer);
      resolve({ output, code, killed, ms: Date.now() - started });
    });
  });
}

/** node:test's closing counts ("ℹ pass 3") from spec-reporter output, or null if it never printed them. */
export function summary(output: string): Record<string, number> | null {
  const counts: Record<string, number> = {};
  for (const m of output.matchAll(/^ℹ (tests|pass|fail|cancelled|skipped|todo) (\d+)$/gm)) counts[m[1]] = Number(m[2]);
  return 'tests' in counts ? counts : null;
}

export interface Verdict {
  passed: number;
  failed: number;
  skipped: number;
  /** Why the file counts as failed, one line each. */
  problems: string[];
}

/** How a file's run counts. `source` is the file's text (for the tests it declares). */
export function verdict(o: Outcome, source: string): Verdict {
  const v: Verdict = { passed: 0, failed: 0, skipped: 0, problems: [] };
  const fail = (why: string, n = 1) => {
    v.failed += n;
    v.problems.push(why);
  };
  if (o.killed) {
    fail(`killed after ${(o.ms / 60_000).toFixed(1)} min (its limit); its tests did not finish`);
    return v;
  }
  const s = summary(o.output);
  if (!s) {
    fail(`exited (code ${o.code}) without node:test's summary`);
    return v;
  }
  v.passed = s.pass ?? 0;
  v.skipped = (s.skipped ?? 0) + (s.todo ?? 0);
  const failedHere = (s.fail ?? 0) + (s.cancelled ?? 0);
  if (failedHere) fail(`${failedHere} failed`, failedHere);
  else if (o.code !== 0) fail(`exited with code ${o.code}`);
  const want = declared(source);
  if (s.tests < want) fail(`reported ${s.tests} test(s) but declares ${want}: it ended early`, want - s.tests);
  return v;
}

/** `file:line (length)` of every line longer than max characters. */
export function longLines(root: string, files: string[], max: number): string[] {
  const out: string[] = [];
  for (const f of files) {
    let text = '';
    try {
      text = readFileSync(join(root, f), 'utf8');
    } catch {
      continue; // deleted in the work tree
    }
    for (const [i, line] of text.split('\n').entries())
      if ([...line].length > max) out.push(`${f}:${i + 1} (${[...line].length})`);
  }
  return out;
}

export function readSource(path: string): string {
  return readFileSync(path, 'utf8');
}
