// A throwaway set of network namespaces for an integration test, guarded by blackhole routes
// for every range it uses, added before anything is created and removed after.
import { rmSync } from 'node:fs';
import {
  addBlackholes,
  addNetns,
  delNetns,
  inNetns,
  removeBlackholes,
  STATE_ROOT,
  writeReservation,
} from '../../agent/sandbox/host.ts';

export interface NetnsSet {
  names: string[];
  exec(ns: string, cmd: string, args: string[]): ReturnType<typeof inNetns>;
  cleanup(): Promise<void>;
}

export async function netnsSet(tag: string, names: string[], ranges: string[]): Promise<NetnsSet> {
  const id = `t${process.pid}-${tag}`;
  const full = names.map((n) => `${id}-${n}`.slice(0, 40));
  // Record the ranges first, so a concurrent sandbox's teardown keeps our routes (and the
  // namespaces, so `skiff sandbox down --name ID` can remove them if this process is killed).
  writeReservation(id, ranges, full);
  const made: string[] = [];
  const cleanup = async () => {
    for (const n of made.reverse()) await delNetns(n).catch(() => {});
    rmSync(`${STATE_ROOT}/${id}.json`, { force: true });
    await removeBlackholes(ranges, id);
  };
  try {
    await addBlackholes(ranges);
    for (const n of full) {
      await addNetns(n);
      made.push(n);
    }
  } catch (e) {
    await cleanup();
    throw e;
  }
  return { names: full, exec: (ns, cmd, args) => inNetns(ns, cmd, args), cleanup };
}
