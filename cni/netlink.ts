// The kernel side, through iproute2 (`ip`, `bridge`). Under nsenter, sysfs shows another
// namespace's devices, so everything goes through netlink via these commands.
import { execa } from 'execa';
import { CniError, CODES } from './errors.ts';

async function ip(args: string[], netns?: string): Promise<string> {
  const argv = netns ? ['nsenter', `--net=${netns}`, 'ip', ...args] : ['ip', ...args];
  const r = await execa(argv[0], argv.slice(1), { reject: false });
  if (r.exitCode !== 0) throw Object.assign(new Error(`${argv.join(' ')}: ${String(r.stderr).trim()}`), { stderr: String(r.stderr) });
  return String(r.stdout);
}

const exists = (e: unknown) => /File exists|already assigned/.test(String((e as { stderr?: string }).stderr ?? ''));

export interface Link { ifname: string; address: string; mtu: number; operstate: string; addr_info?: { local: string; prefixlen: number; family: string }[] }

export async function linkShow(name: string, netns?: string): Promise<Link | null> {
  try {
    const out = JSON.parse(await ip(['-j', 'addr', 'show', 'dev', name], netns)) as Link[];
    return out[0] ?? null;
  } catch (e) {
    if (/does not exist|Cannot find device/.test(String((e as Error).message))) return null;
    throw e;
  }
}

/** The bridge with the gateway address, up; tolerant of a concurrent creator. */
export async function ensureBridge(name: string, gatewayCidr: string, mtu: number): Promise<Link> {
  let br = await linkShow(name);
  if (!br) {
    try { await ip(['link', 'add', name, 'mtu', String(mtu), 'type', 'bridge']); } catch (e) { if (!exists(e)) throw e; }
    br = await linkShow(name);
  }
  if (!br) throw new CniError(CODES.ioFailure, `bridge ${name} could not be created`);
  if (!(br.addr_info ?? []).some((a) => `${a.local}/${a.prefixlen}` === gatewayCidr)) {
    try { await ip(['addr', 'add', gatewayCidr, 'dev', name]); } catch (e) { if (!exists(e)) throw e; }
  }
  if (br.mtu !== mtu) await ip(['link', 'set', name, 'mtu', String(mtu)]);
  await ip(['link', 'set', name, 'up']);
  return (await linkShow(name))!;
}

/** A veth pair: `podIf` inside the pod's namespace, `hostIf` on the bridge with hairpin mode. */
export async function addVeth(netns: string, podIf: string, hostIf: string, bridge: string, mtu: number, hairpin: boolean): Promise<{ host: Link; pod: Link }> {
  const stale = await linkShow(hostIf);
  if (stale) await ip(['link', 'del', hostIf]);
  await ip(['link', 'add', hostIf, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', podIf, 'mtu', String(mtu), 'netns', netns]);
  await ip(['link', 'set', hostIf, 'master', bridge, 'up']);
  if (hairpin) await execa('bridge', ['link', 'set', 'dev', hostIf, 'hairpin', 'on']);
  return { host: (await linkShow(hostIf))!, pod: (await linkShow(podIf, netns))! };
}

export async function configurePod(netns: string, podIf: string, cidr: string, gateway: string): Promise<Link> {
  await ip(['addr', 'replace', cidr, 'dev', podIf], netns);
  await ip(['link', 'set', podIf, 'up'], netns);
  await ip(['route', 'replace', 'default', 'via', gateway, 'dev', podIf], netns);
  return (await linkShow(podIf, netns))!;
}

export async function deleteLink(name: string, netns?: string): Promise<void> {
  try { await ip(['link', 'del', name], netns); } catch (e) {
    if (!/does not exist|Cannot find device|No such file|Invalid argument|cannot open/i.test(String((e as Error).message))) throw e;
  }
}

export async function loopbackUp(netns: string): Promise<void> {
  await ip(['link', 'set', 'lo', 'up'], netns);
}

export async function loopbackDown(netns: string): Promise<void> {
  try { await ip(['link', 'set', 'lo', 'down'], netns); } catch { /* namespace gone: nothing to do */ }
}
