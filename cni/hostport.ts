// hostPort mappings (the CNI `portMappings` capability containerd fills from the pod's ports):
// one nftables map, (protocol . host port) → (pod IP . container port), looked up by a DNAT rule
// for traffic to any of the node's own addresses, from outside (prerouting) and from the node
// itself (output). Each ADD writes the whole table definition again in the same transaction
// as its elements, so concurrent ADDs stay idempotent; a port already mapped to another pod
// fails the ADD. The mappings of each container are kept on disk for its DEL.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CniError, CODES } from './errors.ts';
import { exec } from './netlink.ts';

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
}

const TABLE = 'skiff-hostport';

/** Checks runtimeConfig.portMappings. Pure. */
export function parseMappings(raw: unknown): PortMapping[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw new CniError(CODES.invalidConfig, 'runtimeConfig.portMappings must be a list');
  return raw.map((entry: Record<string, unknown>) => {
    // containerd's Go structs arrive with capitalised keys (HostPort); the spec spells hostPort.
    const m = Object.fromEntries(
      Object.entries(entry ?? {}).map(([k, v]) => [k.charAt(0).toLowerCase() + k.slice(1), v]),
    );
    const hostPort = Number(m.hostPort),
      containerPort = Number(m.containerPort);
    const protocol = String(m.protocol || 'tcp').toLowerCase();
    for (const [k, v] of [
      ['hostPort', hostPort],
      ['containerPort', containerPort],
    ] as const) {
      if (!Number.isInteger(v) || v < 1 || v > 65535)
        throw new CniError(CODES.invalidConfig, `portMappings: invalid ${k} ${JSON.stringify(m[k])}`);
    }
    if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp')
      throw new CniError(CODES.invalidConfig, `portMappings: unsupported protocol "${m.protocol}"`);
    return { hostPort, containerPort, protocol };
  });
}

/** The nft script that (re)defines the table and maps the given ports to podIP. Pure. */
export function addScript(podIP: string, maps: PortMapping[]): string {
  const lines = [
    `add table ip ${TABLE}`,
    `add map ip ${TABLE} ports { type inet_proto . inet_service : ipv4_addr . inet_service ; }`,
    `add chain ip ${TABLE} prerouting { type nat hook prerouting priority dstnat ; policy accept ; }`,
    `add chain ip ${TABLE} output { type nat hook output priority -100 ; policy accept ; }`,
    `flush chain ip ${TABLE} prerouting`,
    `flush chain ip ${TABLE} output`,
    `add rule ip ${TABLE} prerouting fib daddr type local meta l4proto { tcp, udp, sctp } dnat ip to meta ` +
      `l4proto . th dport map @ports`,
    `add rule ip ${TABLE} output fib daddr type local meta l4proto { tcp, udp, sctp } dnat ip to meta ` +
      `l4proto . th dport map @ports`,
  ];
  for (const m of maps)
    lines.push(`add element ip ${TABLE} ports { ${m.protocol} . ${m.hostPort} : ${podIP} . ${m.containerPort} }`);
  return lines.join('\n') + '\n';
}

export function delScript(maps: PortMapping[]): string {
  return maps.map((m) => `delete element ip ${TABLE} ports { ${m.protocol} . ${m.hostPort} }`).join('\n') + '\n';
}

async function nft(script: string): Promise<void> {
  const r = await exec('nft', ['-f', '-'], script);
  if (r.code !== 0) throw new Error(r.stderr.trim().split('\n')[0] || `nft exited with ${r.code}`);
}

const stateFile = (dataDir: string, containerID: string) => join(dataDir, 'hostports', containerID);

export async function mapPorts(dataDir: string, containerID: string, podIP: string, maps: PortMapping[]) {
  if (!maps.length) return;
  try {
    await nft(addScript(podIP, maps));
  } catch (e) {
    const msg = (e as Error).message;
    if (/File exists/.test(msg))
      throw new CniError(
        CODES.generic,
        `a hostPort of this pod is already mapped to another pod on this node ` +
          `(${maps.map((m) => `${m.hostPort}/${m.protocol}`).join(', ')})`,
      );
    throw new CniError(CODES.ioFailure, `failed to map host ports: ${msg}`);
  }
  mkdirSync(join(dataDir, 'hostports'), { recursive: true });
  writeFileSync(stateFile(dataDir, containerID), JSON.stringify(maps));
}

export async function unmapPorts(dataDir: string, containerID: string) {
  let maps: PortMapping[];
  try {
    maps = JSON.parse(readFileSync(stateFile(dataDir, containerID), 'utf8'));
  } catch {
    return;
  }
  // Each element separately: one already gone must not keep the others.
  for (const m of maps) await nft(delScript([m])).catch(() => {});
  rmSync(stateFile(dataDir, containerID), { force: true });
}
