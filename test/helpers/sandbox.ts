// Drives a `skiff sandbox` from tests: real kubectl and commands run inside its namespaces,
// never from the root namespace.
import { execa } from 'execa';
import { SKIFF } from './server.ts';
import { sandboxName } from './names.ts';
import { SANDBOX_NAME } from '../../agent/sandbox/sandbox.ts';

/**
 * An e2e file's sandbox name: its fixed base behind SKIFF_TEST_PREFIX (names.ts), checked at once
 * against `skiff sandbox`'s rule, so a prefix that makes it too long fails with the reason.
 */
export function e2eSandbox(base: string): string {
  const name = sandboxName(base);
  if (!SANDBOX_NAME.test(name))
    throw new Error(
      `sandbox name "${name}" (SKIFF_TEST_PREFIX "${process.env.SKIFF_TEST_PREFIX ?? ''}" + "${base}") is not a ` +
        `valid sandbox name: lowercase letters, digits and '-', at most 12 characters`,
    );
  return name;
}

export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as T;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function sandboxClient(name: string) {
  const skiff = (args: string[], opts: { input?: string } = {}) =>
    execa(SKIFF, args, { reject: false, all: true, input: opts.input, timeout: 120_000 });
  const k = (args: string[], input?: string) => skiff(['sandbox', 'kubectl', '--name', name, '--', ...args], { input });
  const onNode = (node: string, cmd: string[]) => skiff(['sandbox', 'exec', '--name', name, node, '--', ...cmd]);
  const json = async (args: string[]) => JSON.parse(String((await k([...args, '-o', 'json'])).stdout));
  const podIP = (pod: string) =>
    until(`${pod} running with an IP`, async () => {
      const p = await json(['get', 'pod', pod]);
      return p.status?.phase === 'Running' && p.status.podIP ? (p.status.podIP as string) : undefined;
    });
  const httpGet = async (node: string, url: string) =>
    String((await onNode(node, ['busybox', 'wget', '-q', '-O', '-', url])).stdout);
  return { skiff, k, onNode, json, podIP, httpGet };
}
