// Daemon log lines: one event a line with its level, journald's priority prefix under systemd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLog, formatLine } from '../../controlplane/shared/log.ts';

const at = new Date('2026-11-30T21:30:00.123Z');

test('a line per event: time and level, or the syslog priority under journald; newlines escaped', () => {
  const table: [string, Parameters<typeof formatLine>[1], boolean, string][] = [
    ['overlay: programmed', 'info', false, '2026-11-30T21:30:00.123Z info  overlay: programmed\n'],
    ['proxy sync failed', 'warn', false, '2026-11-30T21:30:00.123Z warn  proxy sync failed\n'],
    ['two\nlines\r\nhere', 'error', false, '2026-11-30T21:30:00.123Z error two\\nlines\\nhere\n'],
    ['overlay: programmed', 'info', true, '<6>overlay: programmed\n'],
    ['retrying', 'warn', true, '<4>retrying\n'],
    ['gone', 'error', true, '<3>gone\n'],
    ['detail', 'debug', true, '<7>detail\n'],
  ];
  for (const [msg, level, journald, want] of table) assert.equal(formatLine(msg, level, at, journald), want);
});

test('info by default; debug only when asked for', () => {
  const lines: string[] = [];
  const quiet = createLog((l) => lines.push(l), true, false);
  quiet('hello');
  quiet('hidden', 'debug');
  quiet('careful', 'warn');
  assert.deepEqual(lines, ['<6>hello\n', '<4>careful\n']);
  const loud = createLog((l) => lines.push(l), true, true);
  loud('shown', 'debug');
  assert.equal(lines.at(-1), '<7>shown\n');
});
