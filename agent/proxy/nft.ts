// nft through execa: one `nft -f -` transaction per call, and the table read back as JSON.
// `wrap` runs nft inside another network namespace (tests: `nsenter --net=/run/netns/NAME`).
import { execa } from 'execa';
import { TABLE } from './model.ts';

export interface Nft {
  /** Applies a script atomically; throws with nft's first error line. */
  apply(script: string): Promise<void>;
  /** `nft -j list table ip skiff-proxy`, or null when the table does not exist. */
  list(): Promise<string | null>;
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
    async list() {
      const r = await run(['-j', 'list', 'table', 'ip', TABLE]);
      if (r.exitCode === 0) return String(r.stdout);
      if (/No such file or directory/.test(String(r.stderr))) return null;
      throw new Error(String(r.stderr).trim().split('\n')[0] || `nft exited with ${r.exitCode}`);
    },
  };
}
