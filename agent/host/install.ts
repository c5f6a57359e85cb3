// `skiff install server|agent -- FLAGS`: writes the systemd unit that runs `skiff server|agent
// FLAGS` at boot, disables a distribution's own containerd.service (only the node's containerd
// may run: two would fight over pods and mounts), records that so uninstall can undo it, and
// starts the unit.
import { execa } from 'execa';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { INSTALL_RECORD, UNIT_DIR } from './paths.ts';
import { renderUnit, unitName, type Role } from './units.ts';

const SKIFF = fileURLToPath(new URL('../../bin/skiff', import.meta.url));
const DISTRO_UNITS = ['containerd.service'];

async function systemctl(args: string[]): Promise<{ ok: boolean; out: string }> {
  const r = await execa('systemctl', args, { reject: false, all: true });
  return { ok: r.exitCode === 0, out: String(r.all).trim() };
}

export async function install(role: Role, flags: string[], start: boolean, log: (s: string) => void): Promise<void> {
  if (!existsSync('/run/systemd/system')) throw new Error('systemd is not running on this host');
  const rec: { reenable: string[]; masked: string[] } = {
    reenable: [],
    masked: [],
    ...(existsSync(INSTALL_RECORD) ? JSON.parse(readFileSync(INSTALL_RECORD, 'utf8')) : {}),
  };
  for (const u of DISTRO_UNITS) {
    if ((await systemctl(['is-enabled', u])).out === 'enabled' && !rec.reenable.includes(u)) rec.reenable.push(u);
    if ((await systemctl(['cat', u])).ok) {
      log(`disabling the distribution's ${u}: Skiff runs its own containerd`);
      await systemctl(['disable', '--now', u]);
      await systemctl(['mask', u]);
      if (!rec.masked.includes(u)) rec.masked.push(u);
    }
  }
  mkdirSync(dirname(INSTALL_RECORD), { recursive: true });
  writeFileSync(INSTALL_RECORD, JSON.stringify(rec));
  const file = join(UNIT_DIR, unitName(role));
  writeFileSync(file, renderUnit(role, SKIFF, flags));
  log(`wrote ${file}`);
  await systemctl(['daemon-reload']);
  const r = await systemctl(['enable', ...(start ? ['--now'] : []), unitName(role)]);
  if (!r.ok) throw new Error(`systemctl enable ${unitName(role)}: ${r.out}`);
  log(`${unitName(role)} enabled${start ? ' and started' : ''}; logs: journalctl -u ${unitName(role)}`);
}
