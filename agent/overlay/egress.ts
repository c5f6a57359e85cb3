// Egress: traffic from this node's pods to anything outside the cluster (pod CIDR and node IPs)
// leaves masqueraded to the node's address, in Skiff's own table `ip skiff-egress`; pod-to-pod
// and pod-to-node traffic keeps its source. The whole table is replaced in one nft transaction
// (`add` makes the delete valid when it does not exist yet), so a rewrite never leaves a gap.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Log } from '../../controlplane/shared/log.ts';
import { exec } from '../../cni/netlink.ts';
import type { Wrap } from './kernel.ts';

export const EGRESS_TABLE = 'skiff-egress';

export interface EgressSpec {
  /** This node's pod subnet: only its pods are masqueraded here. */
  podCidr: string;
  clusterCidr: string;
  /** Every node's underlay address: pod-to-node keeps the pod's source. */
  nodeIps: string[];
}

/**
 * The nft script for the table. Pure. The table's comment is a digest of its content, so a
 * restarted agent sees that the table in the kernel is already the one it would write.
 */
export function renderEgress(s: EgressSpec): string {
  const nodes = [...new Set(s.nodeIps)].sort();
  const body = [
    '  set cluster_nodes {',
    '    type ipv4_addr',
    ...(nodes.length ? [`    elements = { ${nodes.join(', ')} }`] : []),
    '  }',
    '  chain postrouting {',
    // After the service proxy's DNAT (dstnat) and before anything else that rewrites sources.
    '    type nat hook postrouting priority srcnat + 10; policy accept;',
    `    ip saddr != ${s.podCidr} return`,
    `    ip daddr ${s.clusterCidr} return`,
    '    ip daddr @cluster_nodes return',
    '    masquerade',
    '  }',
  ];
  return [
    `add table ip ${EGRESS_TABLE}`,
    `delete table ip ${EGRESS_TABLE}`,
    `table ip ${EGRESS_TABLE} {`,
    `  comment "${digest(body)}"`,
    ...body,
    '}',
    '',
  ].join('\n');
}

const digest = (lines: string[]) => createHash('sha256').update(lines.join('\n')).digest('hex').slice(0, 16);

/** The digest a script or listing carries (pure): '' when it has none. */
export const egressDigest = (script: string) => /comment "([0-9a-f]+)"/.exec(script)?.[1] ?? '';

/** The kernel's listing of the table ('' when there is none). */
export async function kernelEgressListing(wrap: Wrap = []): Promise<string> {
  // nft 1.0.6's JSON leaves table comments out: the text listing has it on the table's first line.
  const argv = [...wrap, 'nft', 'list', 'table', 'ip', EGRESS_TABLE];
  const r = await exec(argv[0], argv.slice(1));
  return r.code === 0 ? r.stdout : '';
}

export async function applyEgress(script: string, wrap: Wrap = []): Promise<void> {
  const argv = [...wrap, 'nft', '-f', '-'];
  const r = await exec(argv[0], argv.slice(1), script);
  if (r.code !== 0) throw new Error(`nft (${EGRESS_TABLE}): ${r.stderr.trim().split('\n')[0]}`);
}

/** The listing saved by saveEgressListing ('' when there is none). */
export function readEgressListing(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Keeps the listing taken after a write ('' for none) for an agent started later on this host.
 * Written whole or not at all (rename); a failure only costs that agent one rewrite of the table.
 */
export function saveEgressListing(file: string, listing: string, log: Log): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(`${file}.tmp`, listing);
    renameSync(`${file}.tmp`, file);
  } catch (e) {
    log(`overlay: could not save the egress listing to ${file}: ${(e as Error).message}`, 'warn');
  }
}
