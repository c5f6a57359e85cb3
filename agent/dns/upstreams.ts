// Where outside names go: the --dns-upstream list, or the nameservers of the host's resolv.conf
// minus loopback stub resolvers (systemd-resolved's 127.0.0.53 and the like are unreachable from
// the node's namespace and would loop back to us) and minus the cluster DNS address itself.
import { isIP } from 'node:net';

export interface Upstream {
  host: string;
  port: number;
}

/** Parses `ip`, `ip:port` or `[ipv6]:port`, comma separated. Throws on anything else. */
export function parseUpstreams(flag: string): Upstream[] {
  return flag
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const m = s.match(/^\[([^\]]+)\](?::(\d+))?$/) ?? s.match(/^([^:]+)(?::(\d+))?$/) ?? [s, s];
      const host = m[1];
      const port = m[2] ? Number(m[2]) : 53;
      if (!isIP(host) || !(port > 0 && port < 65536)) throw new Error(`--dns-upstream: ${s} is not an address[:port]`);
      return { host, port };
    });
}

const isLoopback = (ip: string) => ip.startsWith('127.') || ip === '::1' || ip === '0.0.0.0' || ip === '::';

/** The usable nameservers of a resolv.conf text. */
export function upstreamsFromResolvConf(text: string, clusterDNS: string): Upstream[] {
  const out: Upstream[] = [];
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key !== 'nameserver' || !value) continue;
    const host = value.replace(/%.*$/, ''); // a zone index (fe80::1%eth0) cannot be used from another namespace
    if (!isIP(host) || isLoopback(host) || host === clusterDNS) continue;
    out.push({ host, port: 53 });
  }
  return out;
}
