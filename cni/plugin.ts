// The Skiff CNI plugin: a bridge (skiff0) with the gateway address, a veth pair per pod, IPAM
// on disk, hostPort mappings in nftables. Implements ADD, DEL, CHECK, VERSION, STATUS and GC of CNI 1.1.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { CniError, CODES } from './errors.ts';
import { formatCidr, parseConf, SUPPORTED_VERSIONS, type NetConf } from './config.ts';
import { Ipam } from './ipam.ts';
import type { CniResult, VersionResult } from './types.ts';
import { mapPorts, parseMappings, unmapPorts } from './hostport.ts';
import {
  addVeth,
  configurePod,
  deleteLink,
  ensureBridge,
  forgetBridges,
  linkShow,
  type Link,
  routesIn,
} from './netlink.ts';

export interface Env {
  command: string;
  containerID: string;
  netns: string;
  ifname: string;
}

export function hostVethName(containerID: string, ifname: string): string {
  return 'veth' + createHash('sha1').update(`${containerID}/${ifname}`).digest('hex').slice(0, 8);
}

/** The spec's rules for CNI_CONTAINERID and CNI_IFNAME; a netns path without whitespace. */
const ENV_RULES: Partial<Record<keyof Env, [RegExp, string]>> = {
  containerID: [/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, 'letters, digits, "_", "." and "-", starting with a letter or digit'],
  ifname: [/^(?!\.\.?$)[^/:\s]{1,15}$/, 'at most 15 characters, not "." or "..", without "/", ":" or whitespace'],
  netns: [/^\/[^\s]*$/, 'an absolute path without whitespace'],
};

function need(env: Env, ...keys: (keyof Env)[]) {
  for (const k of keys) {
    const name = `CNI_${k === 'containerID' ? 'CONTAINERID' : k.toUpperCase()}`;
    if (!env[k]) throw new CniError(CODES.invalidEnv, `${name} is required for ${env.command}`);
    // These reach file paths and `ip -batch` lines: a value outside the rules is refused here.
    const rule = ENV_RULES[k];
    if (rule && !rule[0].test(env[k])) throw new CniError(CODES.invalidEnv, `${name} must be ${rule[1]}`);
  }
}

async function add(conf: NetConf, env: Env): Promise<CniResult> {
  need(env, 'containerID', 'netns', 'ifname');
  if (!existsSync(env.netns))
    throw new CniError(CODES.unknownContainer, `network namespace ${env.netns} does not exist`);
  const ipam = new Ipam(conf.dataDir, conf.name, conf.subnet);
  const prefix = conf.subnet.bits;
  // Only the allocation needs the lock; making sure of the bridge is idempotent and may race.
  const ip = await ipam.locked(() => ipam.allocate(env.containerID, env.ifname));
  let bridge = await ensureBridge(conf.bridge, `${conf.gateway}/${prefix}`, conf.mtu);
  const hostIf = hostVethName(env.containerID, env.ifname);
  try {
    let host: Link;
    try {
      ({ host } = await addVeth(env.netns, env.ifname, hostIf, conf.bridge, conf.mtu, conf.hairpin));
    } catch (e) {
      // The bridge we remembered is gone (deleted under us): make it again once.
      if (!/Cannot find device|does not exist/.test(String((e as Error).message))) throw e;
      forgetBridges();
      bridge = await ensureBridge(conf.bridge, `${conf.gateway}/${prefix}`, conf.mtu);
      ({ host } = await addVeth(env.netns, env.ifname, hostIf, conf.bridge, conf.mtu, conf.hairpin));
    }
    const pod = await configurePod(env.netns, env.ifname, `${ip}/${prefix}`, conf.gateway);
    await mapPorts(conf.dataDir, env.containerID, ip, parseMappings(conf.portMappings));
    return {
      cniVersion: conf.cniVersion,
      interfaces: [
        { name: conf.bridge, mac: bridge.address },
        { name: hostIf, mac: host.address },
        { name: env.ifname, mac: pod.address, sandbox: env.netns },
      ],
      ips: [
        {
          ...(conf.cniVersion.startsWith('0.') ? { version: '4' as const } : {}),
          address: `${ip}/${prefix}`,
          gateway: conf.gateway,
          interface: 2,
        },
      ],
      routes: [{ dst: '0.0.0.0/0', gw: conf.gateway }],
      dns: {},
    };
  } catch (e) {
    // Leave nothing half-made: the address and the host end go back.
    await deleteLink(hostIf).catch(() => {});
    await unmapPorts(conf.dataDir, env.containerID).catch(() => {});
    await ipam.locked(() => ipam.release(env.containerID, env.ifname));
    if (e instanceof CniError) throw e;
    throw new CniError(CODES.ioFailure, `failed to set up pod network: ${(e as Error).message}`);
  }
}

async function del(conf: NetConf, env: Env) {
  need(env, 'containerID', 'ifname', ...(env.netns ? (['netns'] as const) : []));
  // Idempotent: a missing namespace, veth or allocation is not an error.
  if (env.netns && existsSync(env.netns)) await deleteLink(env.ifname, env.netns).catch(() => {});
  await deleteLink(hostVethName(env.containerID, env.ifname));
  if (conf.dataDir) await unmapPorts(conf.dataDir, env.containerID);
  if (conf.subnet.bits < 32 && conf.subnet.size > 1) {
    const ipam = new Ipam(conf.dataDir, conf.name, conf.subnet);
    await ipam.locked(() => ipam.release(env.containerID, env.ifname));
  }
}

async function check(conf: NetConf, env: Env) {
  need(env, 'containerID', 'netns', 'ifname');
  if (!conf.prevResult) throw new CniError(CODES.invalidConfig, 'CHECK needs prevResult');
  const ipam = new Ipam(conf.dataDir, conf.name, conf.subnet);
  const ip = ipam.find(env.containerID, env.ifname);
  if (!ip) throw new CniError(CODES.unknownContainer, `no address is allocated to ${env.containerID}/${env.ifname}`);
  if (!existsSync(env.netns)) throw new CniError(CODES.unknownContainer, `network namespace ${env.netns} is gone`);
  const pod = await linkShow(env.ifname, env.netns);
  if (!pod) throw new CniError(CODES.unknownContainer, `interface ${env.ifname} is missing in ${env.netns}`);
  if (!(pod.addr_info ?? []).some((a) => a.local === ip && a.prefixlen === conf.subnet.bits))
    throw new CniError(CODES.generic, `interface ${env.ifname} does not carry ${ip}/${conf.subnet.bits}`);
  if (pod.mtu !== conf.mtu)
    throw new CniError(CODES.generic, `interface ${env.ifname} has MTU ${pod.mtu}, not ${conf.mtu}`);
  if (!pod.flags?.includes('UP')) throw new CniError(CODES.generic, `interface ${env.ifname} is down`);
  const routes = await routesIn(env.netns);
  if (!routes.some((r) => r.dst === 'default' && r.gateway === conf.gateway && r.dev === env.ifname))
    throw new CniError(CODES.generic, `no default route via ${conf.gateway} dev ${env.ifname} in ${env.netns}`);
  if (!routes.some((r) => r.dst === formatCidr(conf.subnet) && r.dev === env.ifname))
    throw new CniError(CODES.generic, `no route to ${formatCidr(conf.subnet)} on ${env.ifname} in ${env.netns}`);
  if (!(await linkShow(hostVethName(env.containerID, env.ifname))))
    throw new CniError(CODES.generic, 'host end of the veth is missing');
  const expected = (conf.prevResult.ips ?? []).map((x) => x.address.split('/')[0]);
  if (expected.length && !expected.includes(ip))
    throw new CniError(CODES.generic, `prevResult names ${expected.join(',')} but ${ip} is allocated`);
}

async function gc(conf: NetConf) {
  // Without the list every allocation would look stale: refuse rather than release them all.
  if (!conf.validAttachments) throw new CniError(CODES.invalidConfig, 'GC needs cni.dev/valid-attachments');
  const valid = new Set(conf.validAttachments.map((a) => `${a.containerID}/${a.ifname}`));
  const ipam = new Ipam(conf.dataDir, conf.name, conf.subnet);
  await ipam.locked(async () => {
    for (const a of ipam.list()) {
      if (valid.has(`${a.containerID}/${a.ifname}`)) continue;
      ipam.release(a.containerID, a.ifname);
      await deleteLink(hostVethName(a.containerID, a.ifname));
      await unmapPorts(conf.dataDir, a.containerID);
    }
  });
}

/** STATUS: the overlay agent writes subnet.env once this node's overlay is programmed, for this subnet. */
function overlayReady(conf: NetConf): void {
  let text: string;
  try {
    text = readFileSync(conf.subnetFile!, 'utf8');
  } catch {
    throw new CniError(CODES.notAvailable, 'the pod network is not ready', `${conf.subnetFile} does not exist yet`);
  }
  const subnet = /^SKIFF_SUBNET=(.+)$/m.exec(text)?.[1]?.trim();
  if (subnet !== `${conf.gateway}/${conf.subnet.bits}`)
    throw new CniError(
      CODES.notAvailable,
      'the pod network is not ready',
      `${conf.subnetFile} is for ${subnet ?? 'no subnet'}, not ${conf.gateway}/${conf.subnet.bits}`,
    );
}

/** Runs one CNI command; returns what goes to stdout (or throws a CniError). */
export async function run(env: Env, stdin: string): Promise<CniResult | VersionResult | undefined> {
  switch (env.command) {
    case 'VERSION':
      return { cniVersion: '1.1.0', supportedVersions: SUPPORTED_VERSIONS };
    case 'ADD':
      return add(parseConf(stdin, true), env);
    case 'DEL':
      await del(parseConf(stdin, false), env);
      return undefined;
    case 'CHECK':
      await check(parseConf(stdin, true), env);
      return undefined;
    case 'STATUS': {
      const conf = parseConf(stdin, false);
      if (!conf.subnet.bits) throw new CniError(CODES.notAvailable, 'no pod subnet configured yet');
      if (conf.subnetFile) overlayReady(conf);
      return undefined;
    }
    case 'GC':
      await gc(parseConf(stdin, true));
      return undefined;
    case '':
      throw new CniError(CODES.invalidEnv, 'CNI_COMMAND is not set');
    default:
      throw new CniError(CODES.invalidEnv, `unknown CNI_COMMAND "${env.command}"`);
  }
}
