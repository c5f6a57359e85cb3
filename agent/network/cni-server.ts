// Runs the Skiff CNI plugin's code inside the agent, behind a unix socket that the installed
// plugin (the small C client in cni/client.c) connects to: each pod then costs no Node start.
// Request: NAME=value\0 for each CNI variable, an empty \0, then stdin. Answer: '0' or '1', then stdout.
import { createServer, type Server } from 'node:net';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Env, run } from '../../cni/plugin.ts';
import { CniError, CODES, errorResult } from '../../cni/errors.ts';

/** The largest request taken (a GC's list of valid attachments on a full node is well below). */
export const MAX_CNI_REQUEST = 8 * 1024 * 1024;
/** A client that has not finished its request by then is dropped. */
const REQUEST_TIMEOUT_MS = 60_000;

export function startCniServer(socket: string): Promise<Server> {
  mkdirSync(dirname(socket), { recursive: true });
  rmSync(socket, { force: true });
  // Half-open: the client closes its side after the request and still waits for the answer.
  const server = createServer({ allowHalfOpen: true }, (conn) => {
    const chunks: Buffer[] = [];
    let size = 0;
    conn.setTimeout(REQUEST_TIMEOUT_MS, () => conn.destroy());
    conn.on('data', (c) => {
      size += c.length;
      if (size <= MAX_CNI_REQUEST) return void chunks.push(c);
      // Answered at once and not read further: the plugin's code never sees it.
      conn.removeAllListeners('data');
      conn.removeAllListeners('end');
      const e = new CniError(CODES.decodeFailure, `request larger than ${MAX_CNI_REQUEST} bytes`);
      conn.end('1' + JSON.stringify(errorResult(e, '')) + '\n');
      conn.resume();
    });
    conn.on('end', async () => {
      // The request is in: its work (an IPAM lock waits up to 90 s) is not cut short.
      conn.setTimeout(0);
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
    server.listen(socket, () => {
      chmodSync(socket, 0o600); // root's runtime only, whatever the umask
      resolve(server);
    });
  });
}
