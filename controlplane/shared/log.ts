// Daemon logs: one event a line, each with its level. Under systemd (JOURNAL_STREAM is set for a
// unit's stdout) a line starts with its syslog priority in angle brackets, which journald turns
// into the entry's priority (`journalctl -p warning` filters on it, and the prefix itself is not
// stored); anywhere else (a terminal, a sandbox node's log file) it starts with the time and the
// level. A message never spans lines: a newline inside it is written as `\n`.
export type Level = 'error' | 'warn' | 'info' | 'debug';

/** A logger: `log(msg)` is info; `log(msg, 'warn')` names the level. */
export type Log = (msg: string, level?: Level) => void;

const PRIORITY: Record<Level, number> = { error: 3, warn: 4, info: 6, debug: 7 };

/** The line for one event (with its newline). Pure. */
export function formatLine(msg: string, level: Level, now: Date, journald: boolean): string {
  const text = msg.replace(/\r?\n/g, '\\n');
  return journald ? `<${PRIORITY[level]}>${text}\n` : `${now.toISOString()} ${level.padEnd(5)} ${text}\n`;
}

export function createLog(
  write: (line: string) => void = (line) => process.stdout.write(line),
  journald = !!process.env.JOURNAL_STREAM,
  debug = process.env.SKIFF_DEBUG === '1',
): Log {
  return (msg, level = 'info') => {
    if (level === 'debug' && !debug) return;
    write(formatLine(msg, level, new Date(), journald));
  };
}
