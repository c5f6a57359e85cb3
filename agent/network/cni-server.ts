// Runs the Skiff CNI plugin's code inside the agent, behind a unix socket that the installed
// plugin (the small C client in cni/client.c) connects to: each pod then costs no Node start.
// Request: NAME=value\0 for each CNI variable, an empty \0, then stdin. Answer: '0' or '1', then stdout.
import { createServer, type Server } from 'node:net';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Env, run } from '../../cni/plugin.ts';
import { errorResult } from '../../cni/errors.ts';

export function startCniServer(socket: string): Promise<Server> {
  mkdirSync(dirname(socket), { recursive: true });
  rmSync(socket, { force: true });
  // Half-open: the client closes its side after the request and still waits for the answer.
  const server = createServer({ allowHalfOpen: true }, (conn) => {
    const chunks: Buffer[] = [];
    conn.on('data', (c) => chunks.push(c));
    conn.on('end', async () => {
      const all = Buffer.concat(chunks);
      const cut = all.indexOf(Buffer.from([0, 0]));
      const vars = Object.fromEntries(
        all
          .subarray(0, Math.max(cut, 0))
          .toString()
          .split('\0')
          .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
      );
      const stdin = cut < 0 ? '' : all.subarray(cut + 2).toString();
      const env: Env = {
        command: vars.CNI_COMMAND ?? '',
        containerID: vars.CNI_CONTAINERID ?? '',
        netns: vars.CNI_NETNS ?? '',
        ifname: vars.CNI_IFNAME ?? '',
      };
      try {
        const started = performance.now();
        const out = await run(env, stdin);
        if (process.env.SKIFF_TRACE_CRI)
          console.error(`cni ${env.command} ${(performance.now() - started).toFixed(1)} ms`);
        conn.end('0' + (out === undefined ? '' : JSON.stringify(out) + '\n'));
      } catch (e) {
        conn.end('1' + JSON.stringify(errorResult(e, stdin)) + '\n');
      }
    });
    conn.on('error', () => {});
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve(server));
  });
}
