// nft through execa: one `nft -f -` transaction per call, and the table read back as JSON.
// `wrap` runs nft inside another network namespace (tests: `nsenter --net=/run/netns/NAME`).
import { execa } from 'execa';
import type { ReadBack } from './loaded.ts';
import { TABLE } from './model.ts';
import { PRINTS_SET } from './nft-text.ts';
import { CLUSTER_IPS_SET, MAPS } from './render.ts';

export interface Nft {
  /** Applies a script atomically; throws with nft's first error line. */
  apply(script: string): Promise<void>;
  /**
   * What a full sync needs to know of the table, or null when there is none: object names,
   * and the elements of the shared maps and sets only (dumping every rule or every small map
   * costs the kernel time quadratic in their number).
   */
  readBack(): Promise<ReadBack | null>;
}

export function nftCommand(wrap: string[] = []): Nft {
  const run = (args: string[], input?: string) => {
    const [cmd, ...rest] = [...wrap, 'nft', ...args];
    return execa(cmd, rest, { input, reject: false, timeout: 60_000, maxBuffer: 1 << 30 });
  };
  return {
    async apply(script) {
      const r = await run(['-f', '-'], script);
      if (r.exitCode !== 0) {
        const lines = String(r.stderr).trim().split('\n');
        const first = lines.find((l) => l.startsWith('Error')) ?? lines[0] ?? `nft exited with ${r.exitCode}`;
        // nft names the offending line: show it, the message alone rarely says which element.
        const at = lines.find((l) => !l.startsWith('Error') && l.trim() && !/^\s*\^/.test(l));
        throw new Error(`${first}${at ? ` (${at.trim().slice(0, 300)})` : ''}`);
      }
    },
    async readBack() {
      const get = async (args: string[]) => {
        const r = await run(['-j', ...args]);
        if (r.exitCode === 0) return String(r.stdout);
        if (/No such file or directory/.test(String(r.stderr))) return '';
        throw new Error(String(r.stderr).trim().split('\n')[0] || `nft exited with ${r.exitCode}`);
      };
      // (No `list tables`: nft fills its whole cache for it, every set's elements included.)
      const named = [...MAPS.map((m) => ['map', m.name]), ['set', CLUSTER_IPS_SET], ['set', PRINTS_SET]];
      const [chains, sets, maps, ...elements] = await Promise.all([
        get(['list', 'chains', 'ip']),
        get(['-t', 'list', 'sets', 'ip']),
        get(['-t', 'list', 'maps', 'ip']),
        ...named.map(([kind, name]) => get(['list', kind, 'ip', TABLE, name])),
      ]);
      const ours = `"table": "${TABLE}"`;
      if (!chains.includes(ours) && !maps.includes(ours)) return null;
      return { chains, sets, maps, elements };
    },
  };
}
