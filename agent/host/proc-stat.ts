// A process's line in /proc/PID/stat (proc(5)): the fields Skiff reads, for the sandbox's claim
// checks and the benches' CPU figures.
import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export interface ProcStat {
  /** One letter: R, S, D, Z, ... */
  state: string;
  ppid: number;
  /** User plus system time so far. */
  cpuSeconds: number;
  /** User plus system time of the children it has waited for. */
  childrenCpuSeconds: number;
  /** Start time in ticks after boot: with the PID, names one process. */
  start: number;
}

/** null when there is no such process. */
export function procStat(pid: number | string): ProcStat | null {
  let f: string;
  try {
    f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name in parentheses may hold spaces and ')': the fields start after the last one.
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return {
    state: rest[0],
    ppid: Number(rest[1]),
    cpuSeconds: (Number(rest[11]) + Number(rest[12])) / TICKS_PER_SECOND,
    childrenCpuSeconds: (Number(rest[13]) + Number(rest[14])) / TICKS_PER_SECOND,
    start: Number(rest[19]),
  };
}
