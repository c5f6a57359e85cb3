// Where the resolver answers: the cluster DNS address on a dummy interface `skiff-dns0` in the
// node's namespace, so that a pod's query is delivered locally and never leaves its node, and the
// nftables table `skiff-dns` that exempts that address's port 53 from conntrack (raw priority,
// before any NAT): no conntrack entry per query, so none of the UDP conntrack races that cost
// pods 5-second timeouts, and the service proxy's DNAT never sees these packets.
// Both survive an agent restart on purpose: the next agent binds the same address at once.
import { exec } from '../../cni/netlink.ts';

export const DNS_LINK = 'skiff-dns0';
export const DNS_TABLE = 'skiff-dns';

/** The nft script that (re)defines the table for `ip` in one transaction. Pure. */
export function dnsTableScript(ip: string): string {
  const rules = (chain: string, dir: 'daddr' | 'saddr', port: 'dport' | 'sport') =>
    ['udp', 'tcp'].map((p) => `add rule ip ${DNS_TABLE} ${chain} ip ${dir} ${ip} ${p} ${port} 53 notrack`);
  return [
    `add table ip ${DNS_TABLE}`,
    `delete table ip ${DNS_TABLE}`,
    `add table ip ${DNS_TABLE}`,
    // Queries arriving from pods (bridge) and from the node itself, and the node's answers.
    `add chain ip ${DNS_TABLE} prerouting { type filter hook prerouting priority raw ; policy accept ; }`,
    `add chain ip ${DNS_TABLE} output { type filter hook output priority raw ; policy accept ; }`,
    ...rules('prerouting', 'daddr', 'dport'),
    ...rules('output', 'daddr', 'dport'),
    ...rules('output', 'saddr', 'sport'),
    '',
  ].join('\n');
}

/** Runs a command in the agent's namespace, or in `netns` (a path) for tests. */
async function run(argv: string[], netns?: string, input?: string): Promise<string> {
  const full = netns ? ['nsenter', `--net=${netns}`, ...argv] : argv;
  const r = await exec(full[0], full.slice(1), input);
  if (r.code !== 0) throw new Error(`${full.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Makes the dummy interface with the address and the notrack table; idempotent. */
export async function ensurePlacement(ip: string, netns?: string): Promise<void> {
  const links = JSON.parse((await run(['ip', '-j', 'link', 'show'], netns)) || '[]') as { ifname: string }[];
  if (!links.some((l) => l.ifname === DNS_LINK)) {
    // A kernel without the dummy driver (some CI machines) gets a bridge without ports: it
    // holds a local address just as well, and nothing is ever attached to it.
    for (const type of ['dummy', 'bridge']) {
      const err = await run(['ip', 'link', 'add', DNS_LINK, 'type', type], netns).then(
        () => '',
        (e: Error) => e.message,
      );
      if (!err || /File exists/.test(err)) break;
      if (type === 'bridge' || !/Unknown device type|not supported/i.test(err)) throw new Error(err);
    }
  }
  await run(['ip', 'addr', 'replace', `${ip}/32`, 'dev', DNS_LINK], netns);
  await run(['ip', 'link', 'set', DNS_LINK, 'up'], netns);
  await run(['nft', '-f', '-'], netns, dnsTableScript(ip));
}
