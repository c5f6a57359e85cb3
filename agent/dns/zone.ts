// The cluster zone rendered from the network view (pure): every name the Kubernetes DNS-Based
// Service Discovery schema (1.1.0) defines, keyed by lower-cased name, with its answers already
// encoded. Lookups (lookup.ts) only read this; a view change renders a new zone and swaps it in.
import { isIPv4, isIPv6 } from 'node:net';
import type { EndpointSlice, Service } from '../../controlplane/shared/kube/index.ts';
import { SERVICE_NAME_LABEL } from '../../controlplane/shared/kube/discovery.ts';
import { encodeAtQuestion, encodeOwned, type Rec, type RRSet } from './rr.ts';
import { TYPE } from './wire.ts';

export const SCHEMA_VERSION = '1.1.0';
const TOLERATE_UNREADY = 'service.alpha.kubernetes.io/tolerate-unready-endpoints';

export interface ZoneOptions {
  /** The cluster domain, e.g. cluster.local. */
  domain: string;
  /** TTL of every record and of negative answers (SOA minimum). */
  ttl: number;
  /** The resolver's own address: ns.dns.<zone> points at it. */
  dnsIP: string;
  serial: number;
}

/** One name of the zone: its record sets by type, or a CNAME (ExternalName). No sets = empty non-terminal. */
export interface ZoneName {
  sets: Map<number, RRSet>;
  cname?: { target: string; set: RRSet };
}

export interface Zone {
  domain: string;
  ttl: number;
  names: Map<string, ZoneName>;
  /** PTR names (d.c.b.a.in-addr.arpa, nibbles.ip6.arpa) for ClusterIPs and headless endpoints. */
  reverse: Map<string, RRSet>;
  /** The SOA record with its owner written out, for authority sections. */
  soa: RRSet;
}

export interface ZoneInput {
  services: Iterable<Service>;
  endpointSlices: Iterable<EndpointSlice>;
}

/** The reverse-lookup name of an address (in-addr.arpa or ip6.arpa), lower-case, no trailing dot. */
export function reverseName(ip: string): string {
  if (isIPv4(ip)) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  return `${expandIPv6(ip).split('').reverse().join('.')}.ip6.arpa`;
}

/** The 32 hex nibbles of an IPv6 address. */
function expandIPv6(ip: string): string {
  const [head, tail] = ip.toLowerCase().split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail ? tail.split(':') : [];
  const fill = tail !== undefined ? Array(8 - h.length - t.length).fill('0') : [];
  return [...h, ...fill, ...t].map((g) => g.padStart(4, '0')).join('');
}

/** The hostname CoreDNS gives an endpoint without one: its address with dashes. */
export function dashedIP(ip: string): string {
  return ip.replace(/[.:]/g, '-');
}

interface Pending {
  records: Map<number, Rec[]>;
  cname?: string;
}

export function renderZone(input: ZoneInput, o: ZoneOptions): Zone {
  const domain = o.domain.toLowerCase().replace(/\.$/, '');
  const ttl = o.ttl;
  const pending = new Map<string, Pending>();
  const reverse = new Map<string, Rec[]>();
  const node = (name: string): Pending => {
    let p = pending.get(name);
    if (!p) {
      p = { records: new Map() };
      pending.set(name, p);
      // Every ancestor up to the zone exists as an empty non-terminal: NODATA, not NXDOMAIN.
      const dot = name.indexOf('.');
      if (name !== domain && dot > 0) node(name.slice(dot + 1));
    }
    return p;
  };
  const add = (name: string, r: Omit<Rec, 'name' | 'ttl'>) => {
    const p = node(name);
    const type = TYPE[r.type as keyof typeof TYPE];
    const list = p.records.get(type) ?? [];
    list.push({ ...r, name, ttl });
    p.records.set(type, list);
  };
  const addr = (name: string, ip: string) => add(name, { type: isIPv4(ip) ? 'A' : 'AAAA', data: ip });
  const ptr = (ip: string, target: string) => {
    const r = reverseName(ip);
    const list = reverse.get(r) ?? [];
    if (!list.some((x) => x.data === target)) list.push({ type: 'PTR', name: r, ttl, data: target });
    reverse.set(r, list);
  };

  add(domain, {
    type: 'SOA',
    data: {
      mname: `ns.dns.${domain}`,
      rname: `hostmaster.${domain}`,
      serial: o.serial,
      refresh: 7200,
      retry: 1800,
      expire: 86400,
      minimum: ttl,
    },
  });
  add(domain, { type: 'NS', data: `ns.dns.${domain}` });
  addr(`ns.dns.${domain}`, o.dnsIP);
  add(`dns-version.${domain}`, { type: 'TXT', data: SCHEMA_VERSION });
  node(`pod.${domain}`);

  const slicesBySvc = new Map<string, EndpointSlice[]>();
  for (const s of input.endpointSlices) {
    const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
    if (!svc || s.addressType === 'FQDN') continue;
    const key = `${s.metadata.namespace}/${svc}`;
    slicesBySvc.set(key, [...(slicesBySvc.get(key) ?? []), s]);
  }

  for (const svc of input.services) {
    const ns = String(svc.metadata.namespace).toLowerCase();
    const base = `${String(svc.metadata.name).toLowerCase()}.${ns}.svc.${domain}`;
    const spec = svc.spec ?? {};
    if (spec.type === 'ExternalName') {
      if (!spec.externalName) continue;
      node(base).cname = spec.externalName.toLowerCase().replace(/\.$/, '');
      continue;
    }
    const ips = (spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : []).filter(
      (ip) => isIPv4(ip) || isIPv6(ip),
    );
    if (spec.clusterIP && spec.clusterIP !== 'None') {
      if (!ips.length) continue; // not allocated yet
      for (const ip of ips) {
        addr(base, ip);
        ptr(ip, base);
      }
      for (const p of spec.ports ?? []) {
        if (!p.name) continue;
        add(`_${p.name.toLowerCase()}._${(p.protocol ?? 'TCP').toLowerCase()}.${base}`, {
          type: 'SRV',
          data: { priority: 0, weight: 100, port: p.port, target: base },
        });
      }
      continue;
    }
    // Headless: the ready endpoints are the answer; with none, the name does not exist.
    const allReady = !!spec.publishNotReadyAddresses || svc.metadata.annotations?.[TOLERATE_UNREADY] === 'true';
    const seen = new Set<string>();
    const endpoints: { ip: string; host: string; ports: { name: string; protocol: string; port: number }[] }[] = [];
    for (const slice of slicesBySvc.get(`${svc.metadata.namespace}/${svc.metadata.name}`) ?? []) {
      const ports = (slice.ports ?? [])
        .filter((p) => p.name && p.port)
        .map((p) => ({
          name: String(p.name).toLowerCase(),
          protocol: (p.protocol ?? 'TCP').toLowerCase(),
          port: Number(p.port),
        }));
      for (const ep of slice.endpoints ?? []) {
        if (!allReady && ep.conditions?.ready === false) continue;
        for (const ip of ep.addresses ?? []) {
          if (!isIPv4(ip) && !isIPv6(ip)) continue;
          const host = (ep.hostname ?? dashedIP(ip)).toLowerCase();
          const key = `${host}/${ip}`;
          if (seen.has(key)) continue;
          seen.add(key);
          endpoints.push({ ip, host, ports });
        }
      }
    }
    if (!endpoints.length) continue;
    const weight = Math.max(1, Math.floor(100 / endpoints.length));
    for (const ep of endpoints) {
      const hostName = `${ep.host}.${base}`;
      addr(base, ep.ip);
      addr(hostName, ep.ip);
      ptr(ep.ip, hostName);
      for (const p of ep.ports)
        add(`_${p.name}._${p.protocol}.${base}`, {
          type: 'SRV',
          data: { priority: 0, weight, port: p.port, target: hostName },
        });
    }
  }

  const names = new Map<string, ZoneName>();
  let soa: RRSet | undefined;
  for (const [name, p] of pending) {
    const sets = new Map<number, RRSet>();
    for (const [type, records] of p.records) sets.set(type, encodeAtQuestion(dedupe(records)));
    const entry: ZoneName = { sets };
    if (p.cname) {
      // A CNAME owns its name alone (RFC 1034 §3.6.2): other records at the same name are dropped.
      sets.clear();
      entry.cname = { target: p.cname, set: encodeAtQuestion([{ type: 'CNAME', name, ttl, data: p.cname }]) };
    }
    names.set(name, entry);
    if (name === domain) soa = encodeOwned(p.records.get(TYPE.SOA) ?? []);
  }
  const rev = new Map<string, RRSet>();
  for (const [name, records] of reverse) rev.set(name, encodeAtQuestion(records));
  return { domain, ttl, names, reverse: rev, soa: soa as RRSet };
}

/** The same address under the same name twice (two slices, or IPv4 listed twice) is one record. */
function dedupe(records: Rec[]): Rec[] {
  const seen = new Set<string>();
  return records.filter((r) => {
    const k = `${r.type}/${JSON.stringify(r.data)}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
