// The CNI wire types Skiff reads and writes, written for Skiff from the CNI specification 1.1
// (github.com/containernetworking/cni SPEC.md): the network configuration list (the conflist),
// a plugin's configuration as the runtime hands it over on stdin, the IPAM section, the success
// result and the error result.

/** The conflist: one network, its plugins run in order (spec section 1). */
export interface NetworkConfigList {
  cniVersion: string;
  /** 1.1: every version the list can be run with; the runtime picks the highest it supports. */
  cniVersions?: string[];
  name: string;
  disableCheck?: boolean;
  /** 1.1: the runtime must not call GC for this network. */
  disableGC?: boolean;
  /** 1.1: plugins come only from this list, not from separate files. */
  loadOnlyInlinedPlugins?: boolean;
  plugins: PluginConfig[];
}

/** One plugin of a list: the well-known keys; each plugin adds its own. */
export interface PluginConfig {
  type: string;
  /** Runtime capabilities the plugin wants filled into runtimeConfig (e.g. portMappings). */
  capabilities?: Record<string, boolean>;
  ipam?: IpamConfig;
  dns?: Dns;
}

/** The `ipam` section: which IPAM plugin to delegate to; the rest is that plugin's. */
export interface IpamConfig {
  type: string;
  [key: string]: unknown;
}

/** A hostPort mapping as the portMappings capability delivers it. */
export interface PortMappingEntry {
  hostPort: number;
  containerPort: number;
  protocol?: string;
  hostIP?: string;
}

export interface Attachment {
  containerID: string;
  ifname: string;
}

/**
 * What the runtime writes to a plugin's stdin: the plugin's entry of the list, with the list's
 * cniVersion and name, the capabilities' runtimeConfig, and prevResult (CHECK, DEL, chained
 * ADD) or the valid attachments (GC).
 */
export interface RuntimeNetConf extends PluginConfig {
  cniVersion: string;
  name: string;
  runtimeConfig?: { portMappings?: PortMappingEntry[]; [capability: string]: unknown };
  args?: Record<string, unknown>;
  prevResult?: CniResult;
  'cni.dev/valid-attachments'?: Attachment[];
}

/**
 * The Skiff plugin's own keys. It does its IPAM itself (no `ipam` section): `subnet` is the
 * node's pod range, allocations live under `dataDir`.
 */
export interface SkiffPluginConfig extends PluginConfig {
  type: 'skiff';
  /** Linux bridge name, default skiff0. */
  bridge?: string;
  /** The node's pod CIDR; the gateway is its first address. */
  subnet?: string;
  mtu?: number;
  dataDir?: string;
  hairpinMode?: boolean;
  /** The overlay's subnet.env: STATUS answers "not ready" until the agent has written it. */
  subnetFile?: string;
}

export type SkiffNetConf = RuntimeNetConf & SkiffPluginConfig;

export interface Interface {
  name: string;
  mac?: string;
  mtu?: number;
  /** The namespace path of an interface inside the container; absent for host interfaces. */
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface IpConfig {
  /** Address and prefix length, e.g. 10.244.1.5/24. */
  address: string;
  gateway?: string;
  /** Index into the result's interfaces. */
  interface?: number;
  /** Only in results of versions before 1.0.0. */
  version?: '4' | '6';
}

export interface Route {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface Dns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** ADD's success result (spec section 5). An IPAM plugin returns the same without interfaces. */
export interface CniResult {
  cniVersion: string;
  interfaces?: Interface[];
  ips?: IpConfig[];
  routes?: Route[];
  dns?: Dns;
}

/** VERSION's answer. */
export interface VersionResult {
  cniVersion: string;
  supportedVersions: string[];
}

/** The error result, printed on stdout with a non-zero exit. */
export interface ErrorResult {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}
