// Entry point containerd executes (through the wrapper in cni/bin): CNI environment and stdin
// in, a result or a CNI error JSON out. The same file serves the `loopback` plugin when invoked
// under that name.
import { basename } from 'node:path';
import { CniError, CODES } from './errors.ts';
import { run } from './plugin.ts';
import { loopback } from './loopback.ts';

const env = {
  command: process.env.CNI_COMMAND ?? '', containerID: process.env.CNI_CONTAINERID ?? '',
  netns: process.env.CNI_NETNS ?? '', ifname: process.env.CNI_IFNAME ?? '',
};
// Read stdin to its end asynchronously: a synchronous read of a pipe can hit EAGAIN under load.
let stdin = '';
if (env.command !== 'VERSION') {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  stdin = Buffer.concat(chunks).toString('utf8');
}
let version = '1.1.0';
try { version = JSON.parse(stdin).cniVersion ?? version; } catch { /* reported by the plugin */ }

const as = process.env.SKIFF_CNI_AS ?? basename(process.argv[1] ?? '');
try {
  const out = as === 'loopback' ? await loopback(env, stdin) : await run(env, stdin);
  if (out !== undefined) process.stdout.write(JSON.stringify(out) + '\n');
  process.exitCode = 0;
} catch (e) {
  const err = e instanceof CniError ? e : new CniError(CODES.generic, (e as Error)?.message ?? String(e));
  process.stdout.write(JSON.stringify(err.toJSON(version)) + '\n');
  process.exitCode = 1;
}
