// The answer rules for a question against the cluster zone (pure): records, NODATA, NXDOMAIN,
// a CNAME to chase, or "not ours" for the forwarder. Names under the cluster domain are answered
// here and only here, so the search-path expansions of outside names (`example.com.ns.svc.cluster.local`)
// never leave the node.
import { encodeAtQuestion, joinSets, type RRSet } from './rr.ts';
import { TYPE } from './wire.ts';
import type { Zone } from './zone.ts';

export type Lookup =
  | { kind: 'answer'; set: RRSet }
  | { kind: 'nodata' }
  | { kind: 'nxdomain' }
  | { kind: 'cname'; set: RRSet; target: string }
  | { kind: 'forward' };

const NODATA: Lookup = { kind: 'nodata' };
const NXDOMAIN: Lookup = { kind: 'nxdomain' };
const FORWARD: Lookup = { kind: 'forward' };

/** `a-b-c-d.<ns>.pod.<zone>` → a.b.c.d, else null (the deprecated but required pod records). */
function podAddress(name: string, domain: string): string | null {
  const suffix = `.pod.${domain}`;
  if (!name.endsWith(suffix)) return null;
  const labels = name.slice(0, -suffix.length).split('.');
  if (labels.length !== 2 || !labels[1]) return null;
  const parts = labels[0].split('-');
  if (parts.length !== 4) return null;
  for (const p of parts) if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
  return parts.map(Number).join('.');
}

const podCache = new Map<string, RRSet>();

function podRecord(name: string, ip: string, ttl: number): RRSet {
  const key = `${name}/${ttl}`;
  let set = podCache.get(key);
  if (!set) {
    set = encodeAtQuestion([{ type: 'A', name, ttl, data: ip }]);
    // Bounded: pod names are computed from the question, so a client could make up any number.
    if (podCache.size >= 4096) podCache.clear();
    podCache.set(key, set);
  }
  return set;
}

/** Answers `name` (lower-cased, no trailing dot) of type `qtype` from the zone. */
export function lookup(zone: Zone, name: string, qtype: number): Lookup {
  const d = zone.domain;
  if (name === d || name.endsWith(`.${d}`)) {
    const entry = zone.names.get(name);
    if (entry) {
      if (entry.cname) {
        if (qtype === TYPE.CNAME || qtype === TYPE.ANY) return { kind: 'answer', set: entry.cname.set };
        return { kind: 'cname', set: entry.cname.set, target: entry.cname.target };
      }
      if (qtype === TYPE.ANY) {
        const all = [...entry.sets.values()];
        return all.length ? { kind: 'answer', set: joinSets(all) } : NODATA;
      }
      const set = entry.sets.get(qtype);
      return set ? { kind: 'answer', set } : NODATA;
    }
    const ip = podAddress(name, d);
    if (ip) {
      if (qtype === TYPE.A || qtype === TYPE.ANY) return { kind: 'answer', set: podRecord(name, ip, zone.ttl) };
      return NODATA;
    }
    return NXDOMAIN;
  }
  if (name.endsWith('.in-addr.arpa') || name.endsWith('.ip6.arpa')) {
    const set = zone.reverse.get(name);
    if (set) return qtype === TYPE.PTR || qtype === TYPE.ANY ? { kind: 'answer', set } : NODATA;
  }
  return FORWARD;
}
