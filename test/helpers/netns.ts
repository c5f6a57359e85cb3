// A throwaway set of network namespaces for an integration test, guarded by blackhole routes
// for every range it uses, added before anything is created and removed after.
import { addBlackholes, addNetns, delNetns, removeBlackholes, inNetns } from '../../agent/sandbox/host.ts';
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { STATE_ROOT } from '../../agent/sandbox/host.ts';

export interface NetnsSet {
  names: string[];
  exec(ns: string, cmd: string, args: string[]): ReturnType<typeof inNetns>;
  cleanup(): Promise<void>;
}

export async function netnsSet(tag: string, names: string[], ranges: string[]): Promise<NetnsSet> {
  const id = `t${process.pid}-${tag}`;
  mkdirSync(STATE_ROOT, { recursive: true });
  // Record the ranges first, so a concurrent sandbox's teardown keeps our routes.
  writeFileSync(`${STATE_ROOT}/${id}.json`, JSON.stringify({ ranges, ownerPid: process.pid }));
  const full = names.map((n) => `${id}-${n}`.slice(0, 40));
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
