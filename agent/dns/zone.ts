// The cluster zone rendered from the network view (pure): every name the Kubernetes DNS-Based
// Service Discovery schema (1.1.0) defines, keyed by lower-cased name, with its answers already
// encoded. Lookups (lookup.ts) only read this; a view change renders a new zone and swaps it in.
import { isIPv4, isIPv6 } from 'node:net';
import type { EndpointSlice, Service } from '../../controlplane/shared/kube/index.ts';
import { SERVICE_NAME_LABEL } from '../../controlplane/shared/kube/discovery.ts';
import { encodeAtQuestion, encodeOwned, joinSets, type Rec, type RRSet } from './rr.ts';
import { TYPE } from './wire.ts';
import { isDnsLabel, isDnsName, validPort } from '../../controlplane/shared/net-values.ts';

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

/** Collects records by name; `stop` is the highest name whose ancestors it does not create. */
class Names {
  readonly pending = new Map<string, Pending>();
  private stop: string;
  private ttl: number;
  constructor(stop: string, ttl: number) {
    this.stop = stop;
    this.ttl = ttl;
  }

  node(name: string): Pending {
    let p = this.pending.get(name);
    if (!p) {
      p = { records: new Map() };
      this.pending.set(name, p);
      // Every ancestor up to `stop` exists as an empty non-terminal: NODATA, not NXDOMAIN.
      const dot = name.indexOf('.');
      if (name !== this.stop && dot > 0) this.node(name.slice(dot + 1));
    }
    return p;
  }

  add(name: string, r: Omit<Rec, 'name' | 'ttl'>): void {
    const p = this.node(name);
    const type = TYPE[r.type as keyof typeof TYPE];
    const list = p.records.get(type) ?? [];
    list.push({ ...r, name, ttl: this.ttl });
    p.records.set(type, list);
  }

  addr(name: string, ip: string): void {
    this.add(name, { type: isIPv4(ip) ? 'A' : 'AAAA', data: ip });
  }

  /** The names with their record sets encoded (a CNAME owns its name alone, RFC 1034 §3.6.2). */
  encode(): Map<string, ZoneName> {
    const names = new Map<string, ZoneName>();
    for (const [name, p] of this.pending) {
      const sets = new Map<number, RRSet>();
      const entry: ZoneName = { sets };
      if (p.cname)
        entry.cname = {
          target: p.cname,
          set: encodeAtQuestion([{ type: 'CNAME', name, ttl: this.ttl, data: p.cname }]),
        };
      else for (const [type, records] of p.records) sets.set(type, encodeAtQuestion(dedupe(records)));
      names.set(name, entry);
    }
    return names;
  }
}

/** What one Service puts in the zone: its name and every name below it, and its PTR records. */
export interface ServiceNames {
  namespace: string;
  names: Map<string, ZoneName>;
  reverse: Map<string, RRSet>;
}

/** The names of one Service (`slices`: its own EndpointSlices). Pure. */
export function renderServiceNames(svc: Service, slices: EndpointSlice[], domain: string, ttl: number): ServiceNames {
  const ns = String(svc.metadata.namespace).toLowerCase();
  const base = `${String(svc.metadata.name).toLowerCase()}.${ns}.svc.${domain}`;
  const out = new Names(base, ttl);
  const reverse = new Map<string, Rec[]>();
  const ptr = (ip: string, target: string) => {
    const r = reverseName(ip);
    const list = reverse.get(r) ?? [];
    if (!list.some((x) => x.data === target)) list.push({ type: 'PTR', name: r, ttl, data: target });
    reverse.set(r, list);
  };
  const done = (): ServiceNames => {
    const rev = new Map<string, RRSet>();
    for (const [name, records] of reverse) rev.set(name, encodeAtQuestion(records));
    return { namespace: ns, names: out.encode(), reverse: rev };
  };
  const spec = svc.spec ?? {};
  if (spec.type === 'ExternalName') {
    // Checked again here (the store may hold one written before the API checked label lengths): a
    // label over 63 bytes cannot be written in wire format, so such a Service gets no names.
    const target = spec.externalName?.toLowerCase();
    if (target && !isDnsName(target)) throw new Error(`externalName "${target.slice(0, 80)}" is not a DNS name`);
    if (target) out.node(base).cname = target.replace(/\.$/, '');
    return done();
  }
  const ips = (spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : []).filter(
    (ip) => isIPv4(ip) || isIPv6(ip),
  );
  if (spec.clusterIP && spec.clusterIP !== 'None') {
    if (!ips.length) return done(); // not allocated yet
    for (const ip of ips) {
      out.addr(base, ip);
      ptr(ip, base);
    }
    for (const p of spec.ports ?? []) {
      if (!p?.name) continue;
      out.add(`_${p.name.toLowerCase()}._${(p.protocol ?? 'TCP').toLowerCase()}.${base}`, {
        type: 'SRV',
        data: { priority: 0, weight: 100, port: p.port, target: base },
      });
    }
    return done();
  }
  // Headless: the ready endpoints are the answer; with none, the name does not exist.
  const allReady = !!spec.publishNotReadyAddresses || svc.metadata.annotations?.[TOLERATE_UNREADY] === 'true';
  const seen = new Set<string>();
  const endpoints: { ip: string; host: string; ports: { name: string; protocol: string; port: number }[] }[] = [];
  for (const slice of slices) {
    if (slice.addressType === 'FQDN') continue;
    // Hand-written slices are checked for shape only: SRV names need DNS labels, ports 1-65535.
    const ports = (slice.ports ?? [])
      .filter((p) => p && validPort(p.port))
      .map((p) => ({
        name: String(p.name ?? '').toLowerCase(),
        protocol: String(p.protocol ?? 'TCP').toLowerCase(),
        port: Number(p.port),
      }))
      .filter((p) => isDnsLabel(p.name) && isDnsLabel(p.protocol));
    for (const ep of slice.endpoints ?? []) {
      if (!ep || (!allReady && ep.conditions?.ready === false)) continue;
      for (const ip of Array.isArray(ep.addresses) ? ep.addresses : []) {
        if (typeof ip !== 'string' || (!isIPv4(ip) && !isIPv6(ip))) continue;
        const named = typeof ep.hostname === 'string' && isDnsLabel(ep.hostname.toLowerCase());
        const host = named ? String(ep.hostname).toLowerCase() : dashedIP(ip);
        const key = `${host}/${ip}`;
        if (seen.has(key)) continue;
        seen.add(key);
        endpoints.push({ ip, host, ports });
      }
    }
  }
  const weight = Math.max(1, Math.floor(100 / Math.max(1, endpoints.length)));
  for (const ep of endpoints) {
    const hostName = `${ep.host}.${base}`;
    out.addr(base, ep.ip);
    out.addr(hostName, ep.ip);
    ptr(ep.ip, hostName);
    for (const p of ep.ports)
      out.add(`_${p.name}._${p.protocol}.${base}`, {
        type: 'SRV',
        data: { priority: 0, weight, port: p.port, target: hostName },
      });
  }
  return done();
}

/** The zone from its fixed names and each Service's names, in the Services' order. Pure. */
export function assembleZone(services: Iterable<ServiceNames>, o: ZoneOptions): Zone {
  const domain = o.domain.toLowerCase().replace(/\.$/, '');
  const fixed = new Names(domain, o.ttl);
  fixed.add(domain, {
    type: 'SOA',
    data: {
      mname: `ns.dns.${domain}`,
      rname: `hostmaster.${domain}`,
      serial: o.serial,
      refresh: 7200,
      retry: 1800,
      expire: 86400,
      minimum: o.ttl,
    },
  });
  fixed.add(domain, { type: 'NS', data: `ns.dns.${domain}` });
  fixed.addr(`ns.dns.${domain}`, o.dnsIP);
  fixed.add(`dns-version.${domain}`, { type: 'TXT', data: SCHEMA_VERSION });
  fixed.node(`pod.${domain}`);
  const soa = encodeOwned(fixed.pending.get(domain)?.records.get(TYPE.SOA) ?? []);
  const names = fixed.encode();
  const reverse = new Map<string, RRSet>();
  for (const s of services) {
    if (!s.names.size && !s.reverse.size) continue;
    // The Service's ancestors, shared with its neighbours: empty non-terminals.
    for (const ent of [`${s.namespace}.svc.${domain}`, `svc.${domain}`])
      if (!names.has(ent)) names.set(ent, { sets: new Map() });
    for (const [name, entry] of s.names) names.set(name, entry);
    for (const [name, set] of s.reverse) {
      const had = reverse.get(name);
      reverse.set(name, had ? joinSets([had, set]) : set);
    }
  }
  return { domain, ttl: o.ttl, names, reverse, soa };
}

/** The Services' own EndpointSlices, keyed `namespace/service`. */
function slicesByService(endpointSlices: Iterable<EndpointSlice>): Map<string, EndpointSlice[]> {
  const by = new Map<string, EndpointSlice[]>();
  for (const s of endpointSlices) {
    const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
    if (!svc) continue;
    const key = `${s.metadata.namespace}/${svc}`;
    const list = by.get(key);
    if (list) list.push(s);
    else by.set(key, [s]);
  }
  return by;
}

const NO_SLICES: EndpointSlice[] = [];

export function renderZone(input: ZoneInput, o: ZoneOptions): Zone {
  return new ZoneRenderer().render(input, o);
}

/**
 * renderZone with memory: a Service whose object and EndpointSlice objects are the ones of the
 * last render (the network view replaces an object on every change, never edits it) keeps the
 * names it had, so a change at 10,000 Services costs one Service's encoding, not every one's.
 */
export class ZoneRenderer {
  private last = new Map<string, { svc: Service; slices: EndpointSlice[]; names: ServiceNames }>();
  private shape = '';
  /** Services the last render could not name, with why (the agent logs them). */
  problems: string[] = [];

  /** A Service whose names cannot be rendered (a shape nothing else refused) has none. */
  private namesOf(svc: Service, slices: EndpointSlice[], domain: string, ttl: number): ServiceNames {
    try {
      return renderServiceNames(svc, slices, domain, ttl);
    } catch (e) {
      const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
      this.problems.push(`Service ${key} has no names: ${(e as Error).message}`);
      return { namespace: String(svc.metadata.namespace).toLowerCase(), names: new Map(), reverse: new Map() };
    }
  }

  render(input: ZoneInput, o: ZoneOptions): Zone {
    const domain = o.domain.toLowerCase().replace(/\.$/, '');
    const shape = `${domain}/${o.ttl}`;
    if (shape !== this.shape) this.last.clear();
    this.shape = shape;
    const by = slicesByService(input.endpointSlices);
    this.problems = [];
    const next = new Map<string, { svc: Service; slices: EndpointSlice[]; names: ServiceNames }>();
    for (const svc of input.services) {
      const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
      const slices = by.get(key) ?? NO_SLICES;
      const had = this.last.get(key);
      const same = had && had.svc === svc && sameItems(had.slices, slices);
      next.set(key, same ? had : { svc, slices, names: this.namesOf(svc, slices, domain, o.ttl) });
    }
    this.last = next;
    return assembleZone(
      (function* () {
        for (const v of next.values()) yield v.names;
      })(),
      o,
    );
  }
}

function sameItems<T>(a: T[], b: T[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
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
