// nft through execa: one `nft -f -` transaction per call, and the proxy's tables read back as JSON.
// `wrap` runs nft inside another network namespace (tests: `nsenter --net=/run/netns/NAME`).
import { execa } from 'execa';
import type { ReadBack } from './loaded.ts';
import { SHARD_PREFIX, TABLE, type TableSpec } from './model.ts';
import { PRINTS_SET } from './nft-text.ts';

export interface Nft {
  /** Applies a script atomically; throws with nft's first error line. */
  apply(script: string): Promise<void>;
  /**
   * What a full sync needs to know of the proxy's tables, or null when there is none: object
   * names in every table of the family, and the elements of the given tables' fixed maps and
   * sets only (dumping every rule or every small map costs the kernel time quadratic in their
   * number).
   */
  readBack(tables: TableSpec[]): Promise<ReadBack | null>;
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
    async readBack(tables) {
      const get = async (args: string[]) => {
        const r = await run(['-j', ...args]);
        if (r.exitCode === 0) return String(r.stdout);
        if (/No such file or directory/.test(String(r.stderr))) return '';
        throw new Error(String(r.stderr).trim().split('\n')[0] || `nft exited with ${r.exitCode}`);
      };
      // (No `list tables`: nft fills its whole cache for it, every set's elements included.)
      const [chains, sets, maps] = await Promise.all([
        get(['list', 'chains', 'ip']),
        get(['-t', 'list', 'sets', 'ip']),
        get(['-t', 'list', 'maps', 'ip']),
      ]);
      const ours = (t: string) => chains.includes(`"table": "${t}"`) || maps.includes(`"table": "${t}"`);
      if (!ours(TABLE) && !chains.includes(`"table": "${SHARD_PREFIX}`)) return null;
      const named = tables
        .filter((t) => ours(t.name))
        .flatMap((t) => [
          ...t.maps.map((m) => ['map', t.name, m.name]),
          ...t.sets.map((s) => ['set', t.name, s.name]),
          ['set', t.name, PRINTS_SET],
        ]);
      // A few at a time: one nft process each, on a machine with few cores.
      const elements: string[] = [];
      for (let i = 0; i < named.length; i += 6)
        elements.push(
          ...(await Promise.all(named.slice(i, i + 6).map(([kind, t, name]) => get(['list', kind, 'ip', t, name])))),
        );
      return { chains, sets, maps, elements };
    },
  };
}
