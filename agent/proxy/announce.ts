// LoadBalancer IPs on the node network: one node per IP puts it on its node interface as a
// /32 without a prefix route, so the kernel answers ARP for it and traffic arrives there (the
// table DNATs it on any node). The node is chosen by rendezvous hashing among Ready nodes
// whose agent is connected (among those with a local endpoint for externalTrafficPolicy
// Local): every agent computes the same answer from the same view, and an IP only moves when
// its node leaves the set. An agent whose connection dropped AGENT_GONE_AFTER_MS ago counts as
// gone at once, without waiting the 40 s a node takes to turn NotReady.
import { createHash } from 'node:crypto';
import { execa } from 'execa';
import type { EndpointSlice, Node, Service } from '../../controlplane/shared/kube/index.ts';
import { categorize, usableV4 } from './endpoints.ts';
import { AGENT_GONE_AFTER_MS, agentAwayMs } from '../../controlplane/shared/agent-presence.ts';

export const isReady = (n: Node) =>
  (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True') && !n.spec?.unschedulable;

const score = (ip: string, node: string) => createHash('sha256').update(`${ip}/${node}`).digest().readUInt32BE(0);

/** The node that announces `ip`, or undefined when no node may. Pure. */
export function announcer(ip: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const n of [...candidates].sort()) {
    const s = score(ip, n);
    if (s > bestScore) [best, bestScore] = [n, s];
  }
  return best;
}

/** A node that may announce: Ready, and its agent not gone. */
export const mayAnnounce = (n: Node, now: number) => isReady(n) && (agentAwayMs(n, now) ?? 0) < AGENT_GONE_AFTER_MS;

/** Milliseconds until an agent that is away now counts as gone (when to look again), if any. */
export function nextPresenceChange(nodes: Iterable<Node>, now: number): number | undefined {
  let next: number | undefined;
  for (const n of nodes) {
    const away = agentAwayMs(n, now);
    if (away === undefined || away >= AGENT_GONE_AFTER_MS) continue;
    const left = AGENT_GONE_AFTER_MS - away;
    if (next === undefined || left < next) next = left;
  }
  return next;
}

/** The LoadBalancer IPs this node should hold. Pure. */
export function announcedHere(
  services: Iterable<[Service, EndpointSlice[]]>,
  nodes: Iterable<Node>,
  nodeName: string,
  now = Date.now(),
): Set<string> {
  const ready = [...nodes].filter((n) => mayAnnounce(n, now)).map((n) => String(n.metadata.name));
  const out = new Set<string>();
  for (const [svc, slices] of services) {
    if (svc.spec?.type !== 'LoadBalancer') continue;
    let candidates = ready;
    if (svc.spec.externalTrafficPolicy === 'Local') {
      const withLocal = new Set<string>();
      for (const port of svc.spec.ports ?? [])
        for (const e of port ? categorize(port, slices, '').cluster : []) if (e.nodeName) withLocal.add(e.nodeName);
      candidates = ready.filter((n) => withLocal.has(n));
    }
    for (const ing of svc.status?.loadBalancer?.ingress ?? []) {
      // Only an address a node may take on its interface (not loopback, 0/8, link-local, multicast).
      if (!ing || !usableV4(ing.ip) || ing.ipMode === 'Proxy') continue;
      if (announcer(ing.ip, candidates) === nodeName) out.add(ing.ip);
    }
  }
  return out;
}

/** The address label that marks Skiff's LB addresses (an interface label is at most 15 bytes). */
export const lbLabel = (iface: string) => `${iface.slice(0, 12)}:lb`;

/** Makes the interface hold exactly `want` among Skiff's LB addresses; a gratuitous ARP for each new one. */
export async function syncAnnounced(iface: string, want: Set<string>, wrap: string[] = []): Promise<string[]> {
  const run = (cmd: string, args: string[]) => {
    const [c, ...rest] = [...wrap, cmd, ...args];
    return execa(c, rest, { reject: false, timeout: 10_000 });
  };
  const label = lbLabel(iface);
  const r = await run('ip', ['-j', '-4', 'addr', 'show', 'dev', iface]);
  if (r.exitCode !== 0) throw new Error(`ip addr show ${iface}: ${String(r.stderr).trim()}`);
  const have = new Set<string>();
  for (const link of JSON.parse(String(r.stdout) || '[]') as { addr_info?: { local: string; label?: string }[] }[])
    for (const a of link.addr_info ?? []) if (a.label === label) have.add(a.local);
  const changes: string[] = [];
  for (const ip of have)
    if (!want.has(ip)) {
      const del = await run('ip', ['addr', 'del', `${ip}/32`, 'dev', iface]);
      // Gone already (removed meanwhile) is what was wanted; anything else is tried again.
      if (del.exitCode !== 0 && !/Cannot assign requested address/.test(String(del.stderr)))
        throw new Error(`ip addr del ${ip}: ${String(del.stderr).trim()}`);
      changes.push(`-${ip}`);
    }
  for (const ip of want)
    if (!have.has(ip)) {
      const add = await run('ip', ['addr', 'add', `${ip}/32`, 'dev', iface, 'label', label, 'noprefixroute']);
      if (add.exitCode !== 0 && !/exists/.test(String(add.stderr)))
        throw new Error(`ip addr add ${ip}: ${String(add.stderr).trim()}`);
      // Tell the segment the address moved here: iputils' arping, else busybox's (with neither,
      // ARP caches only age out, which takes tens of seconds).
      const garp = ['-U', '-c', '2', '-w', '2', '-I', iface, ip];
      const sent = await run('arping', garp).catch(() => undefined);
      // Not found: execa says ENOENT, or nsenter (tests) exits 127.
      if (!sent || sent.exitCode === undefined || sent.exitCode === 127)
        await run('busybox', ['arping', ...garp]).catch(() => {});
      changes.push(`+${ip}`);
    }
  return changes;
}
