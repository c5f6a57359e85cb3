// Where a host install of Skiff keeps its marks: the PID file each long-running command writes
// into its data dir, the systemd units, and the record of what the install step changed.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const PID_FILE = 'skiff.pid';
/** The overlay's file in the run dir that tells the CNI plugin the node's pod network. */
export const SUBNET_FILE = 'subnet.env';
/** The overlay's copy, in the run dir, of the egress table as the kernel listed it after its last write. */
export const EGRESS_LISTING_FILE = 'egress.nft';
export const UNIT_DIR = '/etc/systemd/system';
export const UNITS = ['skiff-agent.service', 'skiff-server.service'];
export const INSTALL_RECORD = '/etc/skiff/install.json';
/** Files a host install writes besides units and data: the join token, the forwarding sysctl. */
export const INSTALL_FILES = ['/etc/skiff/token', '/etc/sysctl.d/90-skiff.conf'];

/** Records this process in `dir` (for uninstall) and forgets it again on a clean exit. */
export function writePidFile(dir: string): void {
  const f = join(dir, PID_FILE);
  mkdirSync(dir, { recursive: true });
  writeFileSync(f, String(process.pid));
  process.on('exit', () => {
    try {
      if (readFileSync(f, 'utf8') === String(process.pid)) rmSync(f);
    } catch {
      /* already gone */
    }
  });
}
