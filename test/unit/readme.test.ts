// The README's two commands are what a newcomer types as root on a fresh Debian machine, which
// has no sudo: they must not use it, the scripts they run must not need it, and CI must run the
// README's test command itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execa } from 'execa';
import { join } from 'node:path';
import { ROOT } from '../helpers/server.ts';

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** The shell commands in the fenced blocks of the README section named `heading`. */
function commandsUnder(readme: string, heading: string): string[] {
  const start = readme.indexOf(`## ${heading}`);
  assert.ok(start >= 0, `README has a "## ${heading}" section`);
  const end = readme.indexOf('\n## ', start + 3);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1].trim());
}

test('the README gives exactly two commands, without sudo, and CI runs the second', () => {
  const commands = commandsUnder(read('README.md'), 'Two commands');
  assert.equal(commands.length, 2, commands.join(' | '));
  for (const c of commands) assert.doesNotMatch(c, /\bsudo\b/, c);
  assert.match(commands[0], /^bash vagrant\/provision\.sh up$/);
  assert.match(commands[1], /^bash vagrant\/provision\.sh test$/);
  const ci = read('.ci/run');
  assert.ok(ci.includes(`exec ${commands[1]}`), '.ci/run runs the README test command');
  for (const script of ['vagrant/provision.sh', '.ci/run'])
    for (const line of read(script)
      .split('\n')
      .filter((l) => !/^\s*#/.test(l) && !/die "/.test(l)))
      assert.doesNotMatch(line, /\bsudo\b/, `${script}: ${line}`);
});

test(
  'package.json names a skiff command that runs, ' + 'also through a symlink as npm link and global installs make',
  async () => {
    const pkg = JSON.parse(read('package.json'));
    const dir = mkdtempSync(join(tmpdir(), 'skiff-bin-'));
    try {
      const link = join(dir, 'skiff');
      symlinkSync(join(ROOT, pkg.bin.skiff), link);
      for (const cmd of [join(ROOT, pkg.bin.skiff), link]) {
        const r = await execa(cmd, ['--help'], { reject: false, timeout: 30_000, cwd: dir });
        assert.equal(r.exitCode, 0, r.stderr);
        assert.match(r.stdout, /^usage: skiff <command>/);
      }
      const bad = await execa(link, ['no-such-command'], { reject: false, timeout: 30_000 });
      assert.equal(bad.exitCode, 1);
      assert.match(bad.stderr, /^skiff: unknown command "no-such-command"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
