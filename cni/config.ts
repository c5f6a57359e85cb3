// Parsing and checking the network configuration containerd hands the plugin on stdin.
import { CniError, CODES } from './errors.ts';
import { parseCidr, formatCidr, nthIp, type Cidr } from '../controlplane/shared/cidr.ts';
import type { Attachment, CniResult, SkiffNetConf } from './types.ts';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

/** The checked configuration a command runs with. */
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
  prevResult?: CniResult;
  /** runtimeConfig.portMappings, from the portMappings capability (checked by hostport.ts). */
  portMappings?: unknown;
  validAttachments?: Attachment[];
  /** The overlay's subnet.env: STATUS answers "not ready" until the agent has written it. */
  subnetFile?: string;
}

/** Wire JSON before it is checked: every key may hold anything. */
type Unchecked<T> = { [K in keyof T]?: unknown };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function parseConf(raw: string, needSubnet: boolean): NetConf {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    throw new CniError(CODES.decodeFailure, 'failed to decode network configuration', (e as Error).message);
  }
  if (!isObject(parsed)) throw new CniError(CODES.decodeFailure, 'network configuration must be a JSON object');
  const c: Unchecked<SkiffNetConf> = parsed;
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
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 576 || mtu > 9000)
    throw new CniError(CODES.invalidConfig, `invalid mtu ${JSON.stringify(c.mtu)}`);
  if (c.runtimeConfig !== undefined && !isObject(c.runtimeConfig))
    throw new CniError(CODES.invalidConfig, 'runtimeConfig must be an object');
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
    prevResult: c.prevResult === undefined ? undefined : checkPrevResult(c.prevResult),
    validAttachments: c['cni.dev/valid-attachments'] === undefined ? undefined : checkAttachments(c),
    portMappings: c.runtimeConfig?.portMappings,
    subnetFile: typeof c.subnetFile === 'string' ? c.subnetFile : undefined,
  };
}

/** prevResult: a result whose ips (the part CHECK compares) are well formed. */
function checkPrevResult(r: unknown): CniResult {
  const ips = isObject(r) ? r.ips : undefined;
  if (
    !isObject(r) ||
    typeof r.cniVersion !== 'string' ||
    (ips !== undefined && !(Array.isArray(ips) && ips.every((ip) => isObject(ip) && typeof ip.address === 'string')))
  )
    throw new CniError(CODES.invalidConfig, 'prevResult is not a CNI result (cniVersion, ips[].address)');
  return r as unknown as CniResult;
}

function checkAttachments(c: Unchecked<SkiffNetConf>): Attachment[] {
  const list = c['cni.dev/valid-attachments'];
  if (
    !Array.isArray(list) ||
    !list.every((a) => isObject(a) && typeof a.containerID === 'string' && typeof a.ifname === 'string')
  )
    throw new CniError(CODES.invalidConfig, 'cni.dev/valid-attachments must be a list of {containerID, ifname}');
  return list as Attachment[];
}

export { formatCidr };
