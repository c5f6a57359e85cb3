// Server-side printing: the Table (meta.k8s.io/v1) columns kubectl shows for each kind.
import { formatLabelSelector } from '../shared/labels.ts';
import type { Obj } from '../shared/kube/object.ts';

export interface Column {
  name: string;
  type: string;
  format?: string;
  description: string;
  priority: number;
}
interface Printer {
  columns: Column[];
  cells(o: Obj, now: number): unknown[];
}

export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < -1) return '<invalid>';
  if (s < 0) return '0s';
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  if (h < 24 * 8) return h % 24 === 0 ? `${Math.floor(h / 24)}d` : `${Math.floor(h / 24)}d${h % 24}h`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24)}d`;
  if (h < 24 * 365 * 8) {
    const y = Math.floor(h / 24 / 365);
    return `${y}y${Math.floor(h / 24) % 365}d`;
  }
  return `${Math.floor(h / 24 / 365)}y`;
}

const since = (t: string | undefined, now: number) => (t ? humanDuration(now - Date.parse(t)) : '<unknown>');
const col = (name: string, type = 'string', priority = 0, format?: string): Column => ({
  name,
  type,
  priority,
  description: name,
  ...(format ? { format } : {}),
});
const NAME = col('Name', 'string', 0, 'name');
const AGE = col('Age', 'string');
const none = (s: string | undefined) => (s ? s : '<none>');

const selectorString = (sel: Obj | undefined) => formatLabelSelector(sel) || '<none>';
const mapSelector = (m: Obj | undefined) =>
  m && Object.keys(m).length
    ? Object.entries(m)
        .map(([k, v]) => `${k}=${v}`)
        .join(',')
    : '<none>';
const containersOf = (spec: Obj | undefined) => (spec?.containers ?? []).map((c: Obj) => c.name).join(',');
const imagesOf = (spec: Obj | undefined) => (spec?.containers ?? []).map((c: Obj) => c.image).join(',');
/** The wide columns of every kind that runs a pod template, and their cells. */
const TEMPLATE_COLUMNS = [col('Containers', 'string', 1), col('Images', 'string', 1), col('Selector', 'string', 1)];
const templateCells = (spec: Obj | undefined, selector: string) => [containersOf(spec), imagesOf(spec), selector];

/** The STATUS column of a pod, computed as kubectl's printer does. */
export function podStatus(p: Obj): { ready: string; status: string; restarts: string } {
  const st = p.status ?? {};
  let reason: string = st.reason || st.phase || 'Unknown';
  let restarts = 0,
    ready = 0,
    lastRestart = 0;
  const cs: Obj[] = st.containerStatuses ?? [];
  const total = (p.spec?.containers ?? []).length;
  let initializing = false;
  const inits: Obj[] = st.initContainerStatuses ?? [];
  inits.forEach((c, i) => {
    restarts += c.restartCount ?? 0;
    const t = c.state?.terminated,
      w = c.state?.waiting;
    if (t && t.exitCode === 0) return;
    if (t) {
      reason = t.reason ? `Init:${t.reason}` : t.signal ? `Init:Signal:${t.signal}` : `Init:ExitCode:${t.exitCode}`;
      initializing = true;
    } else if (w?.reason && w.reason !== 'PodInitializing') {
      reason = `Init:${w.reason}`;
      initializing = true;
    } else {
      reason = `Init:${i}/${(p.spec?.initContainers ?? []).length}`;
      initializing = true;
    }
  });
  if (!initializing) {
    let hasRunning = false;
    for (const c of [...cs].reverse()) {
      restarts += c.restartCount ?? 0;
      const lt = c.lastState?.terminated?.finishedAt;
      if (lt) lastRestart = Math.max(lastRestart, Date.parse(lt));
      const w = c.state?.waiting,
        t = c.state?.terminated;
      if (w?.reason) reason = w.reason;
      else if (t?.reason) reason = t.reason;
      else if (t) reason = t.signal ? `Signal:${t.signal}` : `ExitCode:${t.exitCode}`;
      else if (c.state?.running && c.ready) {
        hasRunning = true;
        ready++;
      } else if (c.state?.running) hasRunning = true;
    }
    if (reason === 'Completed' && hasRunning)
      reason = (st.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True')
        ? 'Running'
        : 'NotReady';
  }
  if (p.metadata?.deletionTimestamp) reason = st.reason === 'NodeLost' ? 'Unknown' : 'Terminating';
  const restartStr = lastRestart ? `${restarts} (${humanDuration(Date.now() - lastRestart)} ago)` : String(restarts);
  return { ready: `${ready}/${total}`, status: reason, restarts: restartStr };
}

function servicePorts(s: Obj): string {
  const ports = (s.spec?.ports ?? []).map(
    (p: Obj) => `${p.port}${p.nodePort ? ':' + p.nodePort : ''}/${p.protocol ?? 'TCP'}`,
  );
  return ports.length ? ports.join(',') : '<none>';
}
function serviceExternal(s: Obj): string {
  const spec = s.spec ?? {};
  const lb = (s.status?.loadBalancer?.ingress ?? []).map((i: Obj) => i.ip || i.hostname);
  const ext: string[] = spec.externalIPs ?? [];
  switch (spec.type) {
    case 'ExternalName':
      return spec.externalName ?? '<none>';
    case 'LoadBalancer':
      return [...lb, ...ext].join(',') || '<pending>';
    default:
      return ext.length ? ext.join(',') : '<none>';
  }
}
function nodeStatus(n: Obj): string {
  const ready = (n.status?.conditions ?? []).find((c: Obj) => c.type === 'Ready');
  const parts = [ready ? (ready.status === 'True' ? 'Ready' : 'NotReady') : 'Unknown'];
  if (n.spec?.unschedulable) parts.push('SchedulingDisabled');
  return parts.join(',');
}
function nodeRoles(n: Obj): string {
  const roles = Object.keys(n.metadata?.labels ?? {})
    .filter((k) => k.startsWith('node-role.kubernetes.io/'))
    .map((k) => k.slice(24));
  return roles.length ? roles.sort().join(',') : '<none>';
}
const addr = (n: Obj, type: string) =>
  (n.status?.addresses ?? []).find((a: Obj) => a.type === type)?.address ?? '<none>';
function endpointsString(ips: string[], ports: number[]): string {
  const list: string[] = [];
  for (const ip of ips) for (const p of ports.length ? ports : [0]) list.push(p ? `${ip}:${p}` : ip);
  if (!list.length) return '<none>';
  return list.length > 3 ? `${list.slice(0, 3).join(',')} + ${list.length - 3} more...` : list.join(',');
}
function jobStatus(j: Obj): string {
  const c = (j.status?.conditions ?? []).filter((x: Obj) => x.status === 'True').map((x: Obj) => x.type);
  if (c.includes('Failed')) return 'Failed';
  if (c.includes('Complete')) return 'Complete';
  if (c.includes('Suspended')) return 'Suspended';
  if (c.includes('FailureTarget')) return 'FailureTarget';
  if (c.includes('SuccessCriteriaMet')) return 'SuccessCriteriaMet';
  return 'Running';
}

function replicaPrinter(selector: (sel: Obj | undefined) => string): Printer {
  return {
    columns: [
      NAME,
      col('Desired', 'integer'),
      col('Current', 'integer'),
      col('Ready', 'integer'),
      AGE,
      ...TEMPLATE_COLUMNS,
    ],
    cells: (r, now) => [
      r.metadata.name,
      r.spec?.replicas ?? 0,
      r.status?.replicas ?? 0,
      r.status?.readyReplicas ?? 0,
      since(r.metadata.creationTimestamp, now),
      ...templateCells(r.spec?.template?.spec, selector(r.spec?.selector)),
    ],
  };
}

const PRINTERS: Record<string, Printer> = {
  Pod: {
    columns: [
      NAME,
      col('Ready'),
      col('Status'),
      col('Restarts'),
      AGE,
      col('IP', 'string', 1),
      col('Node', 'string', 1),
      col('Nominated Node', 'string', 1),
      col('Readiness Gates', 'string', 1),
    ],
    cells(p, now) {
      const s = podStatus(p);
      const passed = (g: Obj) =>
        (p.status?.conditions ?? []).some((c: Obj) => c.type === g.conditionType && c.status === 'True');
      const gates = p.spec?.readinessGates?.length
        ? `${(p.spec.readinessGates as Obj[]).filter(passed).length}/${p.spec.readinessGates.length}`
        : '<none>';
      return [
        p.metadata.name,
        s.ready,
        s.status,
        s.restarts,
        since(p.metadata.creationTimestamp, now),
        none(p.status?.podIP),
        none(p.spec?.nodeName),
        none(p.status?.nominatedNodeName),
        gates,
      ];
    },
  },
  Service: {
    columns: [
      NAME,
      col('Type'),
      col('Cluster-IP'),
      col('External-IP'),
      col('Port(s)'),
      AGE,
      col('Selector', 'string', 1),
    ],
    cells: (s, now) => [
      s.metadata.name,
      s.spec?.type,
      s.spec?.clusterIP || '<none>',
      serviceExternal(s),
      servicePorts(s),
      since(s.metadata.creationTimestamp, now),
      mapSelector(s.spec?.selector),
    ],
  },
  Deployment: {
    columns: [NAME, col('Ready'), col('Up-to-date', 'integer'), col('Available', 'integer'), AGE, ...TEMPLATE_COLUMNS],
    cells: (d, now) => [
      d.metadata.name,
      `${d.status?.readyReplicas ?? 0}/${d.spec?.replicas ?? 0}`,
      d.status?.updatedReplicas ?? 0,
      d.status?.availableReplicas ?? 0,
      since(d.metadata.creationTimestamp, now),
      ...templateCells(d.spec?.template?.spec, selectorString(d.spec?.selector)),
    ],
  },
  // The same table for both; a ReplicationController's selector is a plain label map.
  ReplicaSet: replicaPrinter(selectorString),
  ReplicationController: replicaPrinter(mapSelector),
  DaemonSet: {
    columns: [
      NAME,
      col('Desired', 'integer'),
      col('Current', 'integer'),
      col('Ready', 'integer'),
      col('Up-to-date', 'integer'),
      col('Available', 'integer'),
      col('Node Selector'),
      AGE,
      ...TEMPLATE_COLUMNS,
    ],
    cells: (d, now) => [
      d.metadata.name,
      d.status?.desiredNumberScheduled ?? 0,
      d.status?.currentNumberScheduled ?? 0,
      d.status?.numberReady ?? 0,
      d.status?.updatedNumberScheduled ?? 0,
      d.status?.numberAvailable ?? 0,
      mapSelector(d.spec?.template?.spec?.nodeSelector),
      since(d.metadata.creationTimestamp, now),
      ...templateCells(d.spec?.template?.spec, selectorString(d.spec?.selector)),
    ],
  },
  StatefulSet: {
    columns: [NAME, col('Ready'), AGE, col('Containers', 'string', 1), col('Images', 'string', 1)],
    cells: (s, now) => [
      s.metadata.name,
      `${s.status?.readyReplicas ?? 0}/${s.spec?.replicas ?? 0}`,
      since(s.metadata.creationTimestamp, now),
      containersOf(s.spec?.template?.spec),
      imagesOf(s.spec?.template?.spec),
    ],
  },
  Job: {
    columns: [NAME, col('Status'), col('Completions'), col('Duration'), AGE, ...TEMPLATE_COLUMNS],
    cells(j, now) {
      const st = j.status ?? {};
      const completions =
        j.spec?.completions != null
          ? `${st.succeeded ?? 0}/${j.spec.completions}`
          : `${st.succeeded ?? 0}/1 of ${j.spec?.parallelism ?? 1}`;
      const dur = st.startTime
        ? humanDuration((st.completionTime ? Date.parse(st.completionTime) : now) - Date.parse(st.startTime))
        : '';
      return [
        j.metadata.name,
        jobStatus(j),
        completions,
        dur,
        since(j.metadata.creationTimestamp, now),
        ...templateCells(j.spec?.template?.spec, selectorString(j.spec?.selector)),
      ];
    },
  },
  CronJob: {
    columns: [
      NAME,
      col('Schedule'),
      col('Timezone'),
      col('Suspend', 'boolean'),
      col('Active', 'integer'),
      col('Last Schedule'),
      AGE,
      ...TEMPLATE_COLUMNS,
    ],
    cells: (c, now) => [
      c.metadata.name,
      c.spec?.schedule,
      none(c.spec?.timeZone),
      !!c.spec?.suspend,
      (c.status?.active ?? []).length,
      c.status?.lastScheduleTime ? since(c.status.lastScheduleTime, now) : '<none>',
      since(c.metadata.creationTimestamp, now),
      ...templateCells(c.spec?.jobTemplate?.spec?.template?.spec, selectorString(c.spec?.jobTemplate?.spec?.selector)),
    ],
  },
  Node: {
    columns: [
      NAME,
      col('Status'),
      col('Roles'),
      AGE,
      col('Version'),
      col('Internal-IP', 'string', 1),
      col('External-IP', 'string', 1),
      col('OS-Image', 'string', 1),
      col('Kernel-Version', 'string', 1),
      col('Container-Runtime', 'string', 1),
    ],
    cells: (n, now) => [
      n.metadata.name,
      nodeStatus(n),
      nodeRoles(n),
      since(n.metadata.creationTimestamp, now),
      n.status?.nodeInfo?.kubeletVersion ?? '',
      addr(n, 'InternalIP'),
      addr(n, 'ExternalIP'),
      n.status?.nodeInfo?.osImage ?? '<unknown>',
      n.status?.nodeInfo?.kernelVersion ?? '<unknown>',
      n.status?.nodeInfo?.containerRuntimeVersion ?? '<unknown>',
    ],
  },
  Namespace: {
    columns: [NAME, col('Status'), AGE],
    cells: (n, now) => [n.metadata.name, n.status?.phase ?? 'Active', since(n.metadata.creationTimestamp, now)],
  },
  ConfigMap: {
    columns: [NAME, col('Data', 'integer'), AGE],
    cells: (c, now) => [
      c.metadata.name,
      Object.keys(c.data ?? {}).length + Object.keys(c.binaryData ?? {}).length,
      since(c.metadata.creationTimestamp, now),
    ],
  },
  Secret: {
    columns: [NAME, col('Type'), col('Data', 'integer'), AGE],
    cells: (s, now) => [
      s.metadata.name,
      s.type,
      Object.keys(s.data ?? {}).length,
      since(s.metadata.creationTimestamp, now),
    ],
  },
  ServiceAccount: {
    columns: [NAME, col('Secrets', 'integer'), AGE],
    cells: (s, now) => [s.metadata.name, (s.secrets ?? []).length, since(s.metadata.creationTimestamp, now)],
  },
  Endpoints: {
    columns: [NAME, col('Endpoints'), AGE],
    cells(e, now) {
      const list: string[] = [];
      for (const s of e.subsets ?? [])
        list.push(
          endpointsString(
            (s.addresses ?? []).map((a: Obj) => a.ip),
            (s.ports ?? []).map((p: Obj) => p.port),
          ),
        );
      return [
        e.metadata.name,
        list.filter((x) => x !== '<none>').join(',') || '<none>',
        since(e.metadata.creationTimestamp, now),
      ];
    },
  },
  EndpointSlice: {
    columns: [NAME, col('AddressType'), col('Ports'), col('Endpoints'), AGE],
    cells: (e, now) => [
      e.metadata.name,
      e.addressType,
      (e.ports ?? []).map((p: Obj) => p.port ?? '<unset>').join(',') || '<unset>',
      endpointsString(
        (e.endpoints ?? []).flatMap((x: Obj) => x.addresses ?? []),
        [],
      ),
      since(e.metadata.creationTimestamp, now),
    ],
  },
  Ingress: {
    columns: [NAME, col('Class'), col('Hosts'), col('Address'), col('Ports'), AGE],
    cells: (i, now) => [
      i.metadata.name,
      none(i.spec?.ingressClassName),
      (i.spec?.rules ?? []).map((r: Obj) => r.host ?? '*').join(',') || '*',
      (i.status?.loadBalancer?.ingress ?? []).map((x: Obj) => x.ip || x.hostname).join(','),
      i.spec?.tls?.length ? '80, 443' : '80',
      since(i.metadata.creationTimestamp, now),
    ],
  },
  IngressClass: {
    columns: [NAME, col('Controller'), col('Parameters'), AGE],
    cells: (i, now) => [i.metadata.name, i.spec?.controller ?? '', '<none>', since(i.metadata.creationTimestamp, now)],
  },
  Event: {
    columns: [
      col('Last Seen'),
      col('Type'),
      col('Reason'),
      col('Object'),
      col('Message'),
      col('Subobject', 'string', 1),
      col('Source', 'string', 1),
      col('First Seen', 'string', 1),
      col('Count', 'integer', 1),
      NAME,
    ],
    cells(e, now) {
      const last = e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp;
      const io = e.involvedObject ?? {};
      return [
        since(last, now),
        e.type,
        e.reason,
        `${String(io.kind ?? '').toLowerCase()}/${io.name ?? ''}`,
        e.message,
        io.fieldPath ?? '',
        e.source?.component ?? e.reportingComponent ?? '',
        since(e.firstTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp, now),
        e.count ?? 1,
        e.metadata.name,
      ];
    },
  },
  PersistentVolume: {
    columns: [
      NAME,
      col('Capacity'),
      col('Access Modes'),
      col('Reclaim Policy'),
      col('Status'),
      col('Claim'),
      col('StorageClass'),
      col('VolumeAttributesClass'),
      col('Reason'),
      AGE,
    ],
    cells: (p, now) => [
      p.metadata.name,
      p.spec?.capacity?.storage ?? '',
      accessModes(p.spec?.accessModes),
      p.spec?.persistentVolumeReclaimPolicy,
      p.status?.phase ?? '',
      p.spec?.claimRef ? `${p.spec.claimRef.namespace}/${p.spec.claimRef.name}` : '',
      p.spec?.storageClassName ?? '',
      '<unset>',
      p.status?.reason ?? '',
      since(p.metadata.creationTimestamp, now),
    ],
  },
  PersistentVolumeClaim: {
    columns: [
      NAME,
      col('Status'),
      col('Volume'),
      col('Capacity'),
      col('Access Modes'),
      col('StorageClass'),
      col('VolumeAttributesClass'),
      AGE,
    ],
    cells: (p, now) => [
      p.metadata.name,
      p.status?.phase ?? '',
      p.spec?.volumeName ?? '',
      p.status?.capacity?.storage ?? '',
      accessModes(p.status?.accessModes),
      p.spec?.storageClassName ?? '',
      '<unset>',
      since(p.metadata.creationTimestamp, now),
    ],
  },
  Lease: {
    columns: [NAME, col('Holder'), AGE],
    cells: (l, now) => [l.metadata.name, l.spec?.holderIdentity ?? '', since(l.metadata.creationTimestamp, now)],
  },
  Role: { columns: [NAME, col('Created At', 'date')], cells: (r) => [r.metadata.name, r.metadata.creationTimestamp] },
  ClusterRole: {
    columns: [NAME, col('Created At', 'date')],
    cells: (r) => [r.metadata.name, r.metadata.creationTimestamp],
  },
  RoleBinding: bindingPrinter(),
  ClusterRoleBinding: bindingPrinter(),
  StorageClass: {
    columns: [
      NAME,
      col('Provisioner'),
      col('ReclaimPolicy'),
      col('VolumeBindingMode'),
      col('AllowVolumeExpansion', 'boolean'),
      AGE,
    ],
    cells: (s, now) => [
      s.metadata.name +
        (s.metadata.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true' ? ' (default)' : ''),
      s.provisioner,
      s.reclaimPolicy,
      s.volumeBindingMode,
      !!s.allowVolumeExpansion,
      since(s.metadata.creationTimestamp, now),
    ],
  },
  PodDisruptionBudget: {
    columns: [NAME, col('Min Available'), col('Max Unavailable'), col('Allowed Disruptions', 'integer'), AGE],
    cells: (p, now) => [
      p.metadata.name,
      p.spec?.minAvailable ?? 'N/A',
      p.spec?.maxUnavailable ?? 'N/A',
      p.status?.disruptionsAllowed ?? 0,
      since(p.metadata.creationTimestamp, now),
    ],
  },
};

function accessModes(m: string[] | undefined): string {
  const short: Record<string, string> = {
    ReadWriteOnce: 'RWO',
    ReadOnlyMany: 'ROX',
    ReadWriteMany: 'RWX',
    ReadWriteOncePod: 'RWOP',
  };
  return (m ?? []).map((x) => short[x] ?? x).join(',');
}

function bindingPrinter(): Printer {
  const subj = (b: Obj, kind: string) =>
    (b.subjects ?? [])
      .filter((s: Obj) => s.kind === kind)
      .map((s: Obj) => (s.namespace ? `${s.namespace}/${s.name}` : s.name))
      .join(', ');
  return {
    columns: [
      NAME,
      col('Role'),
      AGE,
      col('Users', 'string', 1),
      col('Groups', 'string', 1),
      col('ServiceAccounts', 'string', 1),
    ],
    cells: (b, now) => [
      b.metadata.name,
      `${b.roleRef?.kind}/${b.roleRef?.name}`,
      since(b.metadata.creationTimestamp, now),
      subj(b, 'User'),
      subj(b, 'Group'),
      subj(b, 'ServiceAccount'),
    ],
  };
}

const DEFAULT_PRINTER: Printer = {
  columns: [NAME, AGE],
  cells: (o, now) => [o.metadata.name, since(o.metadata.creationTimestamp, now)],
};

export function printerFor(kind: string): Printer {
  return PRINTERS[kind] ?? DEFAULT_PRINTER;
}

export type IncludeObject = 'None' | 'Metadata' | 'Object';

function partial(o: Obj, apiVersion: string, kind: string, include: IncludeObject): Obj | undefined {
  if (include === 'None') return undefined;
  if (include === 'Object') return o;
  return {
    kind: 'PartialObjectMetadata',
    apiVersion: 'meta.k8s.io/v1',
    metadata: o.metadata,
    ...(apiVersion ? {} : { kind }),
  };
}

export function toTable(
  kind: string,
  apiVersion: string,
  items: Obj[],
  meta: Obj,
  include: IncludeObject,
  withColumns = true,
): Obj {
  const pr = printerFor(kind);
  const now = Date.now();
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: meta,
    columnDefinitions: withColumns ? pr.columns : [],
    rows: items.map((o) => ({ cells: pr.cells(o, now), object: partial(o, apiVersion, kind, include) })),
  };
}
