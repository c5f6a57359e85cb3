// Container logs as `kubectl logs` wants them, read from the CRI log files
// (<pod log dir>/<container>/<attempt>.log, lines "RFC3339Nano stdout|stderr P|F text"):
// previous instance, tail, since, timestamps, byte limit, and follow (across rotations).
import { existsSync, readdirSync, readFileSync, statSync, openSync, readSync, closeSync } from 'node:fs';
import { join } from 'node:path';

export interface LogRequest {
  namespace: string;
  name: string;
  uid: string;
  container: string;
  follow?: boolean;
  previous?: boolean;
  tailLines?: number;
  sinceSeconds?: number;
  sinceTime?: string;
  timestamps?: boolean;
  limitBytes?: number;
}

export class LogError extends Error {}

/** Turns CRI log lines into output: P fragments joined, optional timestamps. Pure. */
export function formatLines(
  text: string,
  o: { timestamps?: boolean; since?: number },
): { lines: string[]; rest: string } {
  const out: string[] = [];
  const parts = text.split('\n');
  const rest = parts.pop() ?? '';
  let pending = '';
  for (const line of parts) {
    const m = line.match(/^(\S+) (stdout|stderr) ([PF]) ?(.*)$/);
    if (!m) continue;
    if (o.since && Date.parse(m[1]) < o.since) continue;
    if (m[3] === 'P') {
      pending += m[4];
      continue;
    }
    const msg = pending + m[4];
    pending = '';
    out.push(`${o.timestamps ? m[1] + ' ' : ''}${msg}\n`);
  }
  return { lines: out, rest };
}

export function logFile(logRoot: string, r: LogRequest): string {
  const dir = join(logRoot, `${r.namespace}_${r.name}_${r.uid}`, r.container);
  const attempts = existsSync(dir)
    ? readdirSync(dir)
        .map((f) => f.match(/^(\d+)\.log$/)?.[1])
        .filter(Boolean)
        .map(Number)
        .sort((a, b) => b - a)
    : [];
  if (!attempts.length)
    throw new LogError(`container "${r.container}" in pod "${r.name}" is waiting to start: no logs yet`);
  if (r.previous) {
    if (attempts.length < 2)
      throw new LogError(`previous terminated container "${r.container}" in pod "${r.name}" not found`);
    return join(dir, `${attempts[1]}.log`);
  }
  return join(dir, `${attempts[0]}.log`);
}

/** Streams the log: writes formatted output; with follow, keeps going until stopped() or running() is false. */
export async function streamLogs(
  logRoot: string,
  r: LogRequest,
  write: (s: string) => void,
  stopped: () => boolean,
  running: () => Promise<boolean>,
): Promise<void> {
  const file = logFile(logRoot, r);
  const since = r.sinceTime ? Date.parse(r.sinceTime) : r.sinceSeconds ? Date.now() - r.sinceSeconds * 1000 : undefined;
  let budget = r.limitBytes ?? Infinity;
  const emit = (lines: string[]) => {
    for (const l of lines) {
      if (budget <= 0) return;
      const s = Buffer.byteLength(l) > budget ? Buffer.from(l).subarray(0, budget).toString() : l;
      budget -= Buffer.byteLength(s);
      write(s);
    }
  };
  const content = readFileSync(file, 'utf8');
  let { lines, rest } = formatLines(content, { timestamps: r.timestamps, since });
  if (r.tailLines !== undefined && r.tailLines >= 0) lines = lines.slice(Math.max(0, lines.length - r.tailLines));
  emit(lines);
  if (!r.follow) return;
  let offset = Buffer.byteLength(content);
  let idle = 0;
  while (!stopped() && budget > 0) {
    await new Promise((res) => setTimeout(res, 200));
    let size = 0;
    try {
      size = statSync(file).size;
    } catch {
      /* between a rotation's rename and reopen */
    }
    if (size < offset) offset = 0; // rotated: the live file started again
    if (size > offset) {
      const fd = openSync(file, 'r');
      const buf = Buffer.alloc(size - offset);
      readSync(fd, buf, 0, buf.length, offset);
      closeSync(fd);
      offset = size;
      const r2 = formatLines(rest + buf.toString('utf8'), { timestamps: r.timestamps, since });
      rest = r2.rest;
      emit(r2.lines);
      idle = 0;
    } else if (++idle % 5 === 0 && !(await running())) return;
  }
}
