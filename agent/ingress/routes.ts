// The ingress route table: a pure function of the network view. It decides which Ingresses are
// Skiff's (IngressClass), turns their rules into per-host path lists sorted by precedence, resolves
// each backend to the ready endpoints of its Service, and lists the TLS Secrets per host. Whatever
// cannot be used is left out and reported, so the agent can put an Event on the Ingress.
import type {
  EndpointSlice,
  Ingress,
  IngressBackend,
  IngressClass,
  Service,
} from '../../controlplane/shared/kube/index.ts';
import { isOurs, ourClasses } from '../../controlplane/shared/ingress-class.ts';
import { type IngressOptions, parseAnnotations } from './annotations.ts';

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export interface Upstream {
  ip: string;
  port: number;
}

export interface Backend {
  /** `namespace/service:port`, the label metrics and logs use. */
  name: string;
  endpoints: Upstream[];
  /** Why there are no endpoints, when there are none. */
  unavailable?: string;
}

export interface Route {
  /** `namespace/name` of the Ingress the rule comes from. */
  ingress: string;
  backend: Backend;
  options: IngressOptions;
}

export interface PathRoute extends Route {
  path: string;
  exact: boolean;
  /** The path as requests are compared with it (routedPath: decoded, slashes merged). */
  compared: string;
  /** The path's non-empty elements (a trailing or doubled slash does not count). */
  elements: string[];
}

export interface Problem {
  ingress: string;
  reason: string;
  message: string;
}

export interface RouteTable {
  /** Exact host → paths, most specific first. */
  hosts: Map<string, PathRoute[]>;
  /** `*.foo.com` stored as `foo.com` → paths. */
  wildcards: Map<string, PathRoute[]>;
  /** Rules without a host: they match any host. */
  anyHost: PathRoute[];
  defaultBackend?: Route;
  /** Host (exact, or `*.foo.com`) → `namespace/secret` of its certificate and the Ingress naming it. */
  tls: Map<string, { secret: string; ingress: string }>;
  /** Every Ingress this controller serves, `namespace/name`. */
  ingresses: string[];
  problems: Problem[];
}

export interface RouteInput {
  ingresses: Iterable<Ingress>;
  ingressClasses: Iterable<IngressClass>;
  services: Map<string, Service>;
  endpointSlices: Iterable<EndpointSlice>;
}

const keyOf = (o: { metadata: { name?: string; namespace?: string } }) =>
  `${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;

/** The non-empty elements of a path: `/aaa//bbb/` → [aaa, bbb]. */
export function pathElements(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

// RFC 1123 names, and a wildcard only as the whole first label (the API validates it too, but the
// view may hold what an older server let through).
const HOST = /^(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function endpointsOf(
  ns: string,
  svc: Service,
  portName: string | undefined,
  slices: Map<string, EndpointSlice[]>,
): Upstream[] {
  const seen = new Set<string>();
  const out: Upstream[] = [];
  for (const slice of slices.get(`${ns}/${svc.metadata.name}`) ?? []) {
    if (slice.addressType !== 'IPv4') continue;
    // The slice port carries the targetPort resolved for the pods behind this slice.
    const sp = (slice.ports ?? []).find((p) => (p.name ?? '') === (portName ?? '') && (p.protocol ?? 'TCP') === 'TCP');
    if (!sp?.port) continue;
    for (const ep of slice.endpoints ?? []) {
      if (ep.conditions?.ready === false) continue;
      for (const ip of ep.addresses ?? []) {
        const k = `${ip}:${sp.port}`;
        if (seen.has(k)) continue;
        seen.add(k);
        out.push({ ip, port: sp.port });
      }
    }
  }
  return out.sort((a, b) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1));
}

function resolveBackend(
  ns: string,
  b: IngressBackend,
  input: RouteInput,
  slices: Map<string, EndpointSlice[]>,
): Backend | string {
  if (b.resource) return `resource backends (${b.resource.kind}) are not supported`;
  if (!b.service?.name) return 'backend names no service';
  const { name, port } = b.service;
  const label = `${ns}/${name}:${port?.name ?? port?.number}`;
  if (port?.number === undefined && !port?.name) return `backend ${ns}/${name} names no port`;
  const svc = input.services.get(`${ns}/${name}`);
  if (!svc) return { name: label, endpoints: [], unavailable: `service ${ns}/${name} does not exist` };
  if (svc.spec?.type === 'ExternalName')
    return { name: label, endpoints: [], unavailable: `service ${ns}/${name} is ExternalName` };
  const sp = (svc.spec?.ports ?? []).find((p) =>
    port.number !== undefined ? p.port === port.number : p.name === port.name,
  );
  if (!sp)
    return { name: label, endpoints: [], unavailable: `service ${ns}/${name} has no port ${label.split(':')[1]}` };
  const endpoints = endpointsOf(ns, svc, sp.name, slices);
  return endpoints.length
    ? { name: label, endpoints }
    : { name: label, endpoints, unavailable: `service ${ns}/${name} has no ready endpoints` };
}

/** Most specific first: longer paths, then Exact before Prefix on the same path. */
function byPrecedence(a: PathRoute, b: PathRoute): number {
  const la = a.elements.join('/').length;
  const lb = b.elements.join('/').length;
  if (la !== lb) return lb - la;
  return Number(b.exact) - Number(a.exact);
}

/** Builds the route table. Ingresses are taken oldest first, so an older rule keeps a contested host+path. */
export function buildRoutes(input: RouteInput): RouteTable {
  const classes = ourClasses(input.ingressClasses);
  const slices = new Map<string, EndpointSlice[]>();
  for (const s of input.endpointSlices) {
    const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
    if (!svc) continue;
    const k = `${s.metadata.namespace ?? 'default'}/${svc}`;
    slices.set(k, [...(slices.get(k) ?? []), s]);
  }
  const table: RouteTable = {
    hosts: new Map(),
    wildcards: new Map(),
    anyHost: [],
    tls: new Map(),
    ingresses: [],
    problems: [],
  };
  const ingresses = [...input.ingresses]
    .filter((i) => !i.metadata.deletionTimestamp && isOurs(i, classes))
    .sort((a, b) => {
      const ta = a.metadata.creationTimestamp ?? '';
      const tb = b.metadata.creationTimestamp ?? '';
      return ta !== tb ? (ta < tb ? -1 : 1) : keyOf(a) < keyOf(b) ? -1 : 1;
    });
  const taken = new Set<string>();
  for (const ing of ingresses) {
    const ns = ing.metadata.namespace ?? 'default';
    const ingress = keyOf(ing);
    const report = (reason: string, message: string) => table.problems.push({ ingress, reason, message });
    table.ingresses.push(ingress);
    const { options, problems } = parseAnnotations(ing.metadata.annotations);
    for (const p of problems) report('InvalidAnnotation', `${p.annotation}: ${p.message}`);
    const backend = (b: IngressBackend, where: string): Backend | undefined => {
      const r = resolveBackend(ns, b, input, slices);
      if (typeof r === 'string') {
        report('InvalidBackend', `${where}: ${r}; ignored`);
        return undefined;
      }
      return r;
    };
    if (ing.spec?.defaultBackend) {
      const b = backend(ing.spec.defaultBackend, 'defaultBackend');
      if (b && table.defaultBackend)
        report('Conflict', `defaultBackend: ${table.defaultBackend.ingress} already sets the default backend; ignored`);
      else if (b) table.defaultBackend = { ingress, backend: b, options };
    }
    for (const t of ing.spec?.tls ?? []) {
      if (!t.secretName) {
        report('InvalidTLS', 'tls entry without secretName; the default certificate is served');
        continue;
      }
      for (const h of t.hosts ?? []) {
        const host = h.toLowerCase();
        if (!HOST.test(host)) report('InvalidTLS', `tls host ${JSON.stringify(h)} is not a valid host name; ignored`);
        else if (!table.tls.has(host)) table.tls.set(host, { secret: `${ns}/${t.secretName}`, ingress });
        else if (table.tls.get(host)?.secret !== `${ns}/${t.secretName}`)
          report('Conflict', `tls host ${host}: another Ingress already names a certificate for it; ignored`);
      }
    }
    for (const rule of ing.spec?.rules ?? []) {
      const host = rule.host?.toLowerCase() ?? '';
      if (host && !HOST.test(host)) {
        report('InvalidRule', `host ${JSON.stringify(rule.host)} is not a valid host name; rule ignored`);
        continue;
      }
      for (const p of rule.http?.paths ?? []) {
        const path = p.path ?? '/';
        if (!path.startsWith('/')) {
          report('InvalidRule', `path ${JSON.stringify(path)} must start with /; ignored`);
          continue;
        }
        const exact = p.pathType === 'Exact';
        const contested = `${host} ${exact ? '=' : '~'} ${exact ? path : pathElements(path).join('/')}`;
        if (taken.has(contested)) {
          report('Conflict', `${host || '*'}${path} (${p.pathType}) is already routed by an older Ingress; ignored`);
          continue;
        }
        const b = backend(p.backend, `${host || '*'}${path}`);
        if (!b) continue;
        taken.add(contested);
        const route: PathRoute = {
          ingress,
          backend: b,
          options,
          path,
          exact,
          compared: normalizePath(path),
          elements: pathElements(normalizePath(path)),
        };
        if (!host) table.anyHost.push(route);
        else {
          const [map, k] = host.startsWith('*.') ? [table.wildcards, host.slice(2)] : [table.hosts, host];
          map.set(k, [...(map.get(k) ?? []), route]);
        }
      }
    }
  }
  for (const list of [...table.hosts.values(), ...table.wildcards.values(), table.anyHost]) list.sort(byPrecedence);
  return table;
}

function pathMatches(r: PathRoute, path: string, elements: string[]): boolean {
  if (r.exact) return path === r.compared;
  if (r.elements.length > elements.length) return false;
  return r.elements.every((e, i) => e === elements[i]);
}

/** Runs of `/` as one: `//admin` is `/admin`, as nginx (merge_slashes) and most servers read it. */
function mergeSlashes(path: string): string {
  return path.includes('//') ? path.replace(/\/{2,}/g, '/') : path;
}

/**
 * A request path as routes compare it: query dropped, percent-decoding undone (`%XX` bytes read
 * as UTF-8; a malformed escape stays as is), runs of `/` merged. nginx matches locations against
 * the same normalized form, and an upstream that decodes or merges must not be reached by a rule
 * the literal path would have missed (`//admin` or `/%61dmin` past an Exact `/admin`).
 */
export function routedPath(rawPath: string): string {
  const q = rawPath.indexOf('?');
  return normalizePath(q >= 0 ? rawPath.slice(0, q) : rawPath);
}

/** Percent-decoded, slashes merged: how request paths and rule paths (`/caf%C3%A9`) are compared. */
function normalizePath(path: string): string {
  return mergeSlashes(path.includes('%') ? percentDecode(path) : path);
}

const ESCAPE = /%[0-9a-fA-F]{2}/;

/** Decodes every valid `%XX` escape; the bytes are read as UTF-8 (invalid sequences as U+FFFD). */
export function percentDecode(s: string): string {
  if (!ESCAPE.test(s)) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 && ESCAPE.test(s.slice(i, i + 3))) {
      bytes.push(Number.parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 128) bytes.push(c);
    else for (const b of Buffer.from(s[i], 'utf8')) bytes.push(b);
  }
  return Buffer.from(bytes).toString('utf8');
}

/** The request's host without port and trailing dot, lower case. */
export function normalizeHost(host: string | undefined): string {
  let h = (host ?? '').toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  if (colon >= 0) h = h.slice(0, colon);
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/** `*.foo.com` covers `bar.foo.com`, not `foo.com` nor `baz.bar.foo.com`. */
function wildcardParent(host: string): string | undefined {
  const dot = host.indexOf('.');
  return dot > 0 ? host.slice(dot + 1) : undefined;
}

/**
 * The route for a request: the host's own rules, then its wildcard's, then the host-less rules,
 * each list most specific first; the default backend when none matches.
 */
export function matchRoute(table: RouteTable, rawHost: string | undefined, rawPath: string): Route | undefined {
  const host = normalizeHost(rawHost);
  const path = routedPath(rawPath);
  const elements = pathElements(path);
  const parent = wildcardParent(host);
  const lists = [table.hosts.get(host), parent ? table.wildcards.get(parent) : undefined, table.anyHost];
  for (const list of lists) for (const r of list ?? []) if (pathMatches(r, path, elements)) return r;
  return table.defaultBackend;
}

/** The `namespace/secret` whose certificate serves a host, if an Ingress names one. */
export function tlsSecretFor(table: RouteTable, rawHost: string | undefined): string | undefined {
  const host = normalizeHost(rawHost);
  const parent = wildcardParent(host);
  return (table.tls.get(host) ?? (parent ? table.tls.get(`*.${parent}`) : undefined))?.secret;
}
