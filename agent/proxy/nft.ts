// nft for the proxy: a transaction per call, through the long-lived `nft -i` of nft-session.ts
// (or one `nft -f -` for a script too large for one line), and the tables read back as JSON.
// `wrap` runs nft inside another network namespace (tests: `nsenter --net=/run/netns/NAME`).
import { execa } from 'execa';
import type { ReadBack } from './loaded.ts';
import { NftSession } from './nft-session.ts';
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
  /** Ends what the object keeps running (the `nft -i` process). */
  close?(): void;
}

/**
 * Scripts up to this size go to the long-lived process as one line; larger ones (full syncs) to
 * `nft -f -`: nft's line editor reads its input a byte at a time (a 1.7 MB line took 3× as long
 * as through `-f`) and keeps every line in memory.
 */
const SESSION_MAX_BYTES = 64 << 10;
/**
 * What only `nft -f` reads as written: `#` (a comment, which on one joined line would swallow
 * the commands after it), a carriage return or NUL (the line editor ends the line there), a
 * backslash ending a line (a continuation).
 */
const NOT_FOR_SESSION = /[#\r\0]|\\$/m;

/** nft's first error line, and the command it points at. */
function firstError(stderr: string, exitCode?: number): string {
  const lines = stderr.trim().split('\n');
  const i = lines.findIndex((l) => l.includes('Error'));
  const first = (i >= 0 ? lines[i] : lines[0]) || `nft exited with ${exitCode}`;
  // nft echoes the input line and marks the offending part with carets: show that part, the
  // message alone rarely says which element.
  const echo = i >= 0 ? lines[i + 1] : undefined;
  const carets = i >= 0 ? (lines[i + 2] ?? '') : '';
  if (!echo?.trim()) return first;
  const at = /^[ \t]*\^/.test(carets) ? carets.indexOf('^') : 0;
  const from = Math.max(0, at - 60);
  return `${first} (${from ? '…' : ''}${echo.slice(from, at + 240).trim()})`;
}

export function nftCommand(wrap: string[] = []): Nft {
  const run = (args: string[], input?: string) => {
    const [cmd, ...rest] = [...wrap, 'nft', ...args];
    return execa(cmd, rest, { input, reject: false, timeout: 60_000, maxBuffer: 1 << 30 });
  };
  const session = new NftSession([...wrap, 'nft']);
  return {
    async apply(script) {
      if (script.length <= SESSION_MAX_BYTES && !NOT_FOR_SESSION.test(script)) {
        const lines = script.split('\n').filter((l) => l.trim());
        const errors = await session.run(lines.join('; '));
        // Only errors fail it (nft may warn of something it still committed).
        if (errors.includes('Error')) throw new Error(firstError(errors));
        return;
      }
      const r = await run(['-f', '-'], script);
      if (r.exitCode !== 0) throw new Error(firstError(String(r.stderr), r.exitCode));
    },
    close: () => session.close(),
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
