// CRI configurations rendered from a Pod: the sandbox (metadata, hostname, DNS from dnsPolicy,
// cgroup parent per QoS class, labels) and each container (command, env, mounts, resources,
// security context). Pure: the runtime-facing code only sends what these return.
import { qosClass, quantity } from '../../controlplane/shared/resources.ts';
import type { Container, Pod } from '../../controlplane/shared/kube/index.ts';

/** A CRI request message (PodSandboxConfig, ContainerConfig, ...) as the gRPC client sends it. */
// biome-ignore lint/suspicious/noExplicitAny: CRI's protobuf messages, written and read by field name only here
export type CriConfig = Record<string, any>;

export const LABEL = {
  podUid: 'io.kubernetes.pod.uid',
  podName: 'io.kubernetes.pod.name',
  podNamespace: 'io.kubernetes.pod.namespace',
  container: 'io.kubernetes.container.name',
};

/** Container annotations the kubelet reads back from the runtime. */
export const ANNOTATION = {
  /** The spec's image a container was made from: a changed image restarts it (pod-actions.ts). */
  specImage: 'skiff.io/spec-image',
};

export interface NodeSettings {
  nodeName: string;
  clusterDNS: string;
  clusterDomain: string;
  logRoot: string;
  hostResolv?: { servers: string[]; searches: string[]; options: string[] };
}

/** Upstream kubelet's limits: at most 3 nameservers; at most 32 search domains, 2048 characters in all. */
const MAX_NAMESERVERS = 3,
  MAX_SEARCHES = 32,
  MAX_SEARCH_CHARS = 2048;

/** Options by name, later ones replacing earlier ones of the same name (ndots:2 from the pod wins over ndots:5). */
function mergeOptions(base: string[], extra: string[]): string[] {
  const byName = new Map<string, string>();
  for (const o of [...base, ...extra]) byName.set(o.split(':')[0], o);
  return [...byName.values()];
}

/**
 * The pod's resolv.conf as upstream's kubelet writes it. ClusterFirst (not on the host network)
 * and ClusterFirstWithHostNet: the cluster DNS, the search list `<ns>.svc.<domain> svc.<domain>
 * <domain>` followed by the host's own search domains, `ndots:5`. Default (and ClusterFirst on the
 * host network): the host's resolv.conf. None: only what dnsConfig says. dnsConfig is appended to
 * any of them (duplicates dropped, options merged by name), then the limits apply.
 */
export function dnsConfig(pod: Pod, n: NodeSettings): CriConfig | undefined {
  const ns = pod.metadata.namespace;
  const policy = pod.spec?.dnsPolicy ?? 'ClusterFirst';
  const custom = pod.spec?.dnsConfig ?? {};
  const extraOpts = (custom.options ?? []).map((o) => (o.value !== undefined ? `${o.name}:${o.value}` : o.name));
  const host = n.hostResolv ?? { servers: [], searches: [], options: [] };
  const hostSearches = host.searches.map((d) => (d === '.' ? d : d.replace(/\.$/, ''))).filter(Boolean);
  const cluster =
    n.clusterDNS && (policy === 'ClusterFirstWithHostNet' || (policy === 'ClusterFirst' && !pod.spec?.hostNetwork));
  let base: { servers: string[]; searches: string[]; options: string[] };
  if (policy === 'None') base = { servers: [], searches: [], options: [] };
  else if (cluster)
    base = {
      servers: [n.clusterDNS],
      searches: [`${ns}.svc.${n.clusterDomain}`, `svc.${n.clusterDomain}`, n.clusterDomain, ...hostSearches],
      options: ['ndots:5'],
    };
  else base = { servers: host.servers, searches: hostSearches, options: host.options };
  const merge = (a: string[], b: string[]) => [...new Set([...a, ...b])];
  const searches: string[] = [];
  let chars = 0;
  for (const d of merge(base.searches, custom.searches ?? [])) {
    if (searches.length === MAX_SEARCHES || chars + d.length + (searches.length ? 1 : 0) > MAX_SEARCH_CHARS) break;
    chars += d.length + (searches.length ? 1 : 0);
    searches.push(d);
  }
  return {
    servers: merge(base.servers, custom.nameservers ?? []).slice(0, MAX_NAMESERVERS),
    searches,
    options: mergeOptions(base.options, extraOpts),
  };
}

export function cgroupParent(pod: Pod, n: NodeSettings): string {
  const qos = qosClass((pod.spec?.containers ?? []).map((c) => c.resources ?? {}));
  const uid = String(pod.metadata.uid).replace(/-/g, '_');
  return qos === 'Guaranteed'
    ? `/skiff-${n.nodeName}/pod${uid}`
    : `/skiff-${n.nodeName}/${qos.toLowerCase()}/pod${uid}`;
}

export function sandboxConfig(pod: Pod, attempt: number, n: NodeSettings): CriConfig {
  const m = pod.metadata,
    spec = pod.spec ?? { containers: [] };
  const hostNet = !!spec.hostNetwork;
  return {
    metadata: { name: m.name, uid: m.uid, namespace: m.namespace, attempt },
    hostname: hostNet ? '' : (spec.hostname ?? m.name),
    log_directory: `${n.logRoot}/${m.namespace}_${m.name}_${m.uid}`,
    dns_config: dnsConfig(pod, n),
    port_mappings: (spec.containers ?? []).flatMap((c) =>
      (c.ports ?? [])
        .filter((p) => p.hostPort)
        .map((p) => ({
          protocol: p.protocol ?? 'TCP',
          container_port: p.containerPort,
          host_port: p.hostPort,
          host_ip: p.hostIP ?? '',
        })),
    ),
    labels: { ...(m.labels ?? {}), [LABEL.podUid]: m.uid, [LABEL.podName]: m.name, [LABEL.podNamespace]: m.namespace },
    annotations: { ...(m.annotations ?? {}), 'kubernetes.io/config.source': 'api' },
    linux: {
      cgroup_parent: cgroupParent(pod, n),
      security_context: {
        namespace_options: {
          network: hostNet ? 'NODE' : 'POD',
          pid: spec.hostPID ? 'NODE' : spec.shareProcessNamespace ? 'POD' : 'CONTAINER',
          ipc: spec.hostIPC ? 'NODE' : 'POD',
        },
      },
    },
  };
}

export function resources(c: Container): CriConfig {
  const req = c.resources?.requests ?? {},
    lim = c.resources?.limits ?? {};
  const cpuReq = quantity(req.cpu ?? lim.cpu),
    cpuLim = quantity(lim.cpu),
    mem = quantity(lim.memory);
  return {
    cpu_shares: cpuReq ? Math.max(2, Math.floor(cpuReq * 1024)) : 2,
    ...(cpuLim ? { cpu_period: 100000, cpu_quota: Math.max(1000, Math.floor(cpuLim * 100000)) } : {}),
    ...(mem ? { memory_limit_in_bytes: Math.floor(mem) } : {}),
  };
}

/** A container's security context; targetId puts it in that container's process namespace (ephemeral containers). */
export function securityContext(pod: Pod, c: Container, targetId?: string): CriConfig {
  const ps = pod.spec?.securityContext ?? {},
    cs = c.securityContext ?? {};
  const user = cs.runAsUser ?? ps.runAsUser,
    group = cs.runAsGroup ?? ps.runAsGroup;
  return {
    privileged: !!cs.privileged,
    readonly_rootfs: !!cs.readOnlyRootFilesystem,
    no_new_privs: cs.allowPrivilegeEscalation === false,
    ...(user !== undefined ? { run_as_user: { value: user } } : {}),
    ...(group !== undefined ? { run_as_group: { value: group } } : {}),
    supplemental_groups: ps.supplementalGroups ?? [],
    ...(cs.capabilities
      ? { capabilities: { add_capabilities: cs.capabilities.add ?? [], drop_capabilities: cs.capabilities.drop ?? [] } }
      : {}),
    namespace_options: {
      network: pod.spec?.hostNetwork ? 'NODE' : 'POD',
      pid: pod.spec?.hostPID ? 'NODE' : pod.spec?.shareProcessNamespace ? 'POD' : targetId ? 'TARGET' : 'CONTAINER',
      ipc: pod.spec?.hostIPC ? 'NODE' : 'POD',
      ...(targetId && !pod.spec?.hostPID && !pod.spec?.shareProcessNamespace ? { target_id: targetId } : {}),
    },
  };
}

export function containerConfig(
  pod: Pod,
  c: Container,
  attempt: number,
  env: { key: string; value: string }[],
  command: string[],
  args: string[],
  mounts: CriConfig[],
  targetId?: string,
): CriConfig {
  return {
    metadata: { name: c.name, attempt },
    image: { image: c.image },
    command,
    args,
    working_dir: c.workingDir ?? '',
    envs: env,
    mounts,
    labels: {
      [LABEL.podUid]: pod.metadata.uid,
      [LABEL.podName]: pod.metadata.name,
      [LABEL.podNamespace]: pod.metadata.namespace,
      [LABEL.container]: c.name,
    },
    annotations: {
      'io.kubernetes.container.restartCount': String(attempt),
      'io.kubernetes.container.terminationMessagePath': c.terminationMessagePath ?? '/dev/termination-log',
      [ANNOTATION.specImage]: c.image ?? '',
    },
    log_path: `${c.name}/${attempt}.log`,
    stdin: !!c.stdin,
    stdin_once: !!c.stdinOnce,
    tty: !!c.tty,
    linux: { resources: resources(c), security_context: securityContext(pod, c, targetId) },
  };
}

/**
 * The runAsNonRoot check kubelet makes before creating a container: the effective user (the
 * securityContext's, else the image's) must be known and not 0. Returns the message, or null.
 */
export function nonRootViolation(pod: Pod, c: Container, image: { uid?: number; username?: string }): string | null {
  const cs = c.securityContext ?? {},
    ps = pod.spec?.securityContext ?? {};
  if (!(cs.runAsNonRoot ?? ps.runAsNonRoot)) return null;
  const where = `(pod: "${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})", container: ${c.name})`;
  const user = cs.runAsUser ?? ps.runAsUser;
  if (user !== undefined) return Number(user) === 0 ? `container's runAsUser breaks non-root policy ${where}` : null;
  if (image.uid !== undefined)
    return image.uid === 0 ? `container has runAsNonRoot and image will run as root ${where}` : null;
  const name = image.username ?? '';
  if (name === '' || name === 'root') return `container has runAsNonRoot and image will run as root ${where}`;
  return `container has runAsNonRoot and image has non-numeric user (${name}), cannot verify user is non-root ${where}`;
}
