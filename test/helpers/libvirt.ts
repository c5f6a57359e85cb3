// libvirt for a test, walled in: its own network namespace (behind blackhole routes in the root
// namespace for every range the VMs use, added before anything starts) and its own mount
// namespace, in which /etc/libvirt, /var/lib/libvirt, /var/log/libvirt and /run/libvirt are
// directories of the test. So its bridges, dnsmasq, NAT rules, disks and definitions are all
// the test's, and everything inside runs through `run()` (nsenter into both namespaces).
// `cleanup()` destroys domains, networks and pools, kills every process left in the namespace
// by PID, and removes the namespace, the routes and the files.
import { execa } from 'execa';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  addBlackholes,
  addNetns,
  delNetns,
  removeBlackholes,
  STATE_ROOT,
  writeReservation,
} from '../../agent/sandbox/host.ts';
import { killPids, pidsInNetns } from '../../agent/sandbox/cleanup.ts';

export interface Libvirt {
  ns: string;
  dir: string;
  run(
    cmd: string,
    args: string[],
    opts?: { env?: Record<string, string>; cwd?: string; timeout?: number },
  ): Promise<{ stdout: string; stderr: string; exitCode: number; all: string }>;
  cleanup(): Promise<void>;
}

const QEMU_CONF = `# Written by the vagrant test: the daemon runs as root in a container without a security driver.
user = "root"
group = "root"
dynamic_ownership = 0
security_driver = "none"
cgroup_controllers = [ ]
swtpm_user = "root"
swtpm_group = "root"
`;

const QEMU_USER = 'libvirt-qemu:x:64055:64055:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin';
const QEMU_GROUP = 'libvirt-qemu:x:64055:';
const PRIVATE = ['/etc/libvirt', '/var/lib/libvirt', '/var/log/libvirt', '/run/libvirt'];

export async function startLibvirt(name: string, ranges: string[], log: (s: string) => void): Promise<Libvirt> {
  const dir = join('/var/tmp', `${name}-libvirt`);
  writeReservation(name, ranges, [name]);
  const createdDirs = PRIVATE.filter((d) => !existsSync(d));
  let daemonPid = 0;
  const pidFiles = [join(dir, 'libvirtd.pid'), join(dir, 'virtlogd.pid')];
  const inside = (cmd: string, args: string[]) => [
    `--net=/run/netns/${name}`,
    `--mount=/proc/${daemonPid}/ns/mnt`,
    `--wd=${dir}`,
    cmd,
    ...args,
  ];
  const run: Libvirt['run'] = async (cmd, args, opts = {}) => {
    const r = await execa('nsenter', inside('env', ['-C', opts.cwd ?? dir, cmd, ...args]), {
      reject: false,
      all: true,
      env: opts.env,
      timeout: opts.timeout ?? 120_000,
    });
    return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? -1, all: String(r.all) };
  };
  const cleanup = async () => {
    if (daemonPid) {
      const virsh = async (args: string[]) => (await run('virsh', ['-c', 'qemu:///system', ...args])).stdout;
      for (const d of (await virsh(['list', '--all', '--name'])).split('\n').filter(Boolean)) {
        await virsh(['destroy', d]);
        await virsh(['undefine', d, '--remove-all-storage']);
      }
      for (const n of (await virsh(['net-list', '--all', '--name'])).split('\n').filter(Boolean)) {
        await virsh(['net-destroy', n]);
        await virsh(['net-undefine', n]);
      }
      for (const p of (await virsh(['pool-list', '--all', '--name'])).split('\n').filter(Boolean)) {
        for (const v of (await virsh(['vol-list', p, '--name'])).split('\n').filter(Boolean))
          await virsh(['vol-delete', v, '--pool', p]);
        await virsh(['pool-destroy', p]);
        await virsh(['pool-undefine', p]);
      }
    }
    const daemons = pidFiles
      .map((f) => (existsSync(f) ? Number(readFileSync(f, 'utf8').trim()) : 0))
      .filter((p) => p > 1);
    await killPids(daemons, 10_000);
    // Whatever still runs in the namespace (qemu, dnsmasq) is the test's.
    await killPids(pidsInNetns(name), 10_000);
    await delNetns(name).catch((e) => log(`netns ${name}: ${(e as Error).message}`));
    rmSync(`${STATE_ROOT}/${name}.json`, { force: true });
    await removeBlackholes(ranges, name);
    for (const d of createdDirs) rmSync(d, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // Safety first: the routes, before any namespace, bridge or VM exists.
    await addBlackholes(ranges);
    await addNetns(name);
    rmSync(dir, { recursive: true, force: true });
    for (const d of PRIVATE) mkdirSync(join(dir, d.slice(1).replace(/\//g, '_')), { recursive: true });
    for (const d of createdDirs) mkdirSync(d, { recursive: true });
    const etc = join(dir, 'etc_libvirt');
    if (existsSync('/etc/libvirt')) cpSync('/etc/libvirt', etc, { recursive: true });
    writeFileSync(join(etc, 'qemu.conf'), QEMU_CONF);
    mkdirSync(join(dir, 'var_lib_libvirt', 'images'), { recursive: true });
    mkdirSync(join(dir, 'var_lib_libvirt', 'qemu'), { recursive: true });
    // libvirt's qemu driver needs its user to exist even when it runs qemu as root: it exists
    // only in this mount namespace. /sys is remounted so sysfs shows this namespace's links.
    for (const f of ['passwd', 'group']) cpSync(`/etc/${f}`, join(dir, f));
    writeFileSync(join(dir, 'passwd'), `${readFileSync(join(dir, 'passwd'), 'utf8')}${QEMU_USER}\n`);
    writeFileSync(join(dir, 'group'), `${readFileSync(join(dir, 'group'), 'utf8')}${QEMU_GROUP}\n`);
    const binds = [
      ...PRIVATE.map((d) => `mount --bind ${join(dir, d.slice(1).replace(/\//g, '_'))} ${d}`),
      `mount --bind ${join(dir, 'passwd')} /etc/passwd`,
      `mount --bind ${join(dir, 'group')} /etc/group`,
      'mount -t sysfs sysfs /sys',
    ].join('; ');
    const r = await execa(
      'nsenter',
      [
        `--net=/run/netns/${name}`,
        'unshare',
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-ec',
        `${binds}; virtlogd -d -p ${pidFiles[1]}; libvirtd -d -p ${pidFiles[0]}`,
      ],
      { reject: false, all: true, timeout: 60_000 },
    );
    if (r.exitCode !== 0) throw new Error(`starting libvirtd: ${r.all}`);
    const end = Date.now() + 60_000;
    while (!daemonPid && Date.now() < end) {
      if (existsSync(pidFiles[0])) daemonPid = Number(readFileSync(pidFiles[0], 'utf8').trim());
      if (!daemonPid) await new Promise((r2) => setTimeout(r2, 200));
    }
    if (!daemonPid) throw new Error('libvirtd wrote no PID file within 60 s');
    for (let ok = false; !ok; ) {
      ok = (await run('virsh', ['-c', 'qemu:///system', 'version'])).exitCode === 0;
      if (!ok && Date.now() > end) throw new Error('libvirtd does not answer');
      if (!ok) await new Promise((r2) => setTimeout(r2, 500));
    }
    log(`libvirtd ${daemonPid} in namespace ${name}`);
  } catch (e) {
    await cleanup();
    throw e;
  }
  return { ns: name, dir, run, cleanup };
}
