// Transmit checksum offload on the VXLAN device. Kernels before 5.7 computed wrong UDP checksums
// for encapsulated packets that netfilter NAT had touched (the "63-second stall" flannel and
// Calico users hit); turning the offload off also turns off TSO on the device, which costs most
// of VXLAN's throughput. So: off on kernels before 5.7, on elsewhere, and a flag to force either.
import { exec } from '../../cni/netlink.ts';
import type { Log } from '../../controlplane/shared/log.ts';
import type { Wrap } from './kernel.ts';

export type OffloadSetting = 'auto' | 'on' | 'off';

/** Whether tx checksum offload should be on, for a setting and a kernel release ("6.1.0-13-amd64"). Pure. */
export function txOffloadWanted(setting: OffloadSetting, kernelRelease: string): boolean {
  if (setting !== 'auto') return setting === 'on';
  const m = /^(\d+)\.(\d+)/.exec(kernelRelease);
  if (!m) return false; // an unreadable version gets the safe, slower choice
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 5 || (major === 5 && minor >= 7);
}

/** Reads `ethtool -k`'s tx-checksumming line and changes it only when it differs. */
export async function ensureTxOffload(dev: string, on: boolean, wrap: Wrap, log: Log) {
  const run = (args: string[]) => {
    const argv = [...wrap, 'ethtool', ...args];
    return exec(argv[0], argv.slice(1));
  };
  const cur = await run(['-k', dev]);
  if (cur.code !== 0) {
    log(`overlay: cannot read offloads of ${dev} (${cur.stderr.trim() || 'no ethtool'})`, 'warn');
    return;
  }
  const state = /^tx-checksumming: (on|off)/m.exec(cur.stdout)?.[1];
  if (state === (on ? 'on' : 'off')) return;
  const r = await run(['-K', dev, 'tx', on ? 'on' : 'off']);
  if (r.code !== 0)
    log(`overlay: cannot turn tx checksum offload ${on ? 'on' : 'off'} on ${dev}: ${r.stderr.trim()}`, 'warn');
  else log(`overlay: tx checksum offload ${on ? 'on' : 'off'} on ${dev}`);
}
