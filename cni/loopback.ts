// The `loopback` plugin containerd 1.6 runs for every sandbox: brings lo up in the pod.
import { existsSync } from 'node:fs';
import { CniError, CODES } from './errors.ts';
import { SUPPORTED_VERSIONS } from './config.ts';
import { loopbackDown, loopbackUp } from './netlink.ts';

export async function loopback(env: { command: string; netns: string }, stdin: string): Promise<unknown> {
  let conf: { cniVersion?: string } = {};
  if (env.command !== 'VERSION') {
    try { conf = JSON.parse(stdin); } catch { throw new CniError(CODES.decodeFailure, 'failed to decode network configuration'); }
  }
  const cniVersion = conf.cniVersion ?? '1.1.0';
  switch (env.command) {
    case 'VERSION': return { cniVersion: '1.1.0', supportedVersions: SUPPORTED_VERSIONS };
    case 'ADD':
      if (!env.netns || !existsSync(env.netns)) throw new CniError(CODES.unknownContainer, `network namespace ${env.netns} does not exist`);
      await loopbackUp(env.netns);
      return { cniVersion, interfaces: [{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: env.netns }], ips: [{ address: '127.0.0.1/8', interface: 0 }, { address: '::1/128', interface: 0 }], dns: {} };
    case 'DEL':
      if (env.netns && existsSync(env.netns)) await loopbackDown(env.netns);
      return undefined;
    case 'CHECK': case 'STATUS': case 'GC': return undefined;
    default: throw new CniError(CODES.invalidEnv, `unknown CNI_COMMAND "${env.command}"`);
  }
}
