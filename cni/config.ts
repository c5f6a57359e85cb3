// Parsing and checking the network configuration containerd hands the plugin on stdin.
import { CniError, CODES } from './errors.ts';
import { parseCidr, formatCidr, nthIp, type Cidr } from '../controlplane/allocator/cidr.ts';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  bridge: string;
  subnet: Cidr;
  gateway: string;
  mtu: number;
  dataDir: string;
  hairpin: boolean;
  // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
  prevResult?: Record<string, any>;
  /** runtimeConfig.portMappings, from the portMappings capability. */
  portMappings?: unknown;
  validAttachments?: { containerID: string; ifname: string }[];
  /** The overlay's subnet.env: STATUS answers "not ready" until the agent has written it. */
  subnetFile?: string;
}

export function parseConf(raw: string, needSubnet: boolean): NetConf {
  // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
  let c: Record<string, any>;
  try {
    c = JSON.parse(raw);
  } catch (e) {
    throw new CniError(CODES.decodeFailure, 'failed to decode network configuration', (e as Error).message);
  }
  if (!c || typeof c !== 'object' || Array.isArray(c))
    throw new CniError(CODES.decodeFailure, 'network configuration must be a JSON object');
  const version = c.cniVersion;
  if (typeof version !== 'string') throw new CniError(CODES.invalidConfig, 'cniVersion is required');
  if (!SUPPORTED_VERSIONS.includes(version))
    throw new CniError(
      CODES.incompatibleVersion,
      `incompatible CNI version ${version}`,
      `supported: ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  if (typeof c.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(c.name))
    throw new CniError(CODES.invalidConfig, 'network name is missing or invalid');
  const bridge = c.bridge ?? 'skiff0';
  if (typeof bridge !== 'string' || !/^[A-Za-z0-9_.-]{1,15}$/.test(bridge))
    throw new CniError(CODES.invalidConfig, `invalid bridge name "${bridge}"`);
  let subnet: Cidr | undefined;
  if (c.subnet !== undefined) {
    try {
      subnet = parseCidr(String(c.subnet));
    } catch {
      throw new CniError(CODES.invalidConfig, `invalid subnet "${c.subnet}"`);
    }
    if (subnet.bits > 30) throw new CniError(CODES.invalidConfig, `subnet ${c.subnet} is too small`);
  } else if (needSubnet) throw new CniError(CODES.invalidConfig, 'subnet is required');
  const mtu = c.mtu ?? 1500;
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > 9000)
    throw new CniError(CODES.invalidConfig, `invalid mtu ${c.mtu}`);
  return {
    cniVersion: version,
    name: c.name,
    type: String(c.type ?? ''),
    bridge,
    subnet: subnet ?? parseCidr('0.0.0.0/0'),
    gateway: subnet ? nthIp(subnet, 1) : '',
    mtu,
    dataDir: typeof c.dataDir === 'string' ? c.dataDir : '/var/lib/skiff/cni',
    hairpin: c.hairpinMode !== false,
    prevResult: c.prevResult,
    validAttachments: c['cni.dev/valid-attachments'],
    portMappings: c.runtimeConfig?.portMappings,
    subnetFile: typeof c.subnetFile === 'string' ? c.subnetFile : undefined,
  };
}

export { formatCidr };
