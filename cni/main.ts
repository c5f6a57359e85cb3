// Entry point containerd executes (through the wrapper the agent installs): CNI environment
// and stdin in, a result or a CNI error JSON out. (`loopback` is the shell script in cni/bin.)
import { appendFileSync } from 'node:fs';
import { errorResult } from './errors.ts';
import { type Env, run } from './plugin.ts';

const env: Env = {
  command: process.env.CNI_COMMAND ?? '',
  containerID: process.env.CNI_CONTAINERID ?? '',
  netns: process.env.CNI_NETNS ?? '',
  ifname: process.env.CNI_IFNAME ?? '',
};
// Read stdin to its end asynchronously: a synchronous read of a pipe can hit EAGAIN under load.
let stdin = '';
if (env.command !== 'VERSION') {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  stdin = Buffer.concat(chunks).toString('utf8');
}
// SKIFF_CNI_TRACE=FILE appends one line per invocation with its duration (for benchmarks).
const started = performance.now();
if (process.env.SKIFF_CNI_TRACE)
  process.on('exit', () =>
    appendFileSync(
      process.env.SKIFF_CNI_TRACE!,
      `${new Date().toISOString()} ${env.command} ${env.containerID.slice(0, 12)} ` +
        `${(performance.now() - started).toFixed(0)}ms ` +
        `(process ${(process.uptime() * 1000).toFixed(0)}ms)\n`,
    ),
  );
try {
  const out = await run(env, stdin);
  if (out !== undefined) process.stdout.write(JSON.stringify(out) + '\n');
  process.exitCode = 0;
} catch (e) {
  process.stdout.write(JSON.stringify(errorResult(e, stdin)) + '\n');
  process.exitCode = 1;
}
