import { qosClass } from '../shared/resources.ts';
import type { Obj } from '../shared/kube/object.ts';
// Defaulting: the fields Kubernetes fills in when users omit them, applied on create and update.

const setDefault = (o: Obj, k: string, v: unknown) => {
  if (o[k] === undefined || o[k] === null) o[k] = v;
};

function defaultProbe(p: Obj | undefined) {
  if (!p) return;
  setDefault(p, 'timeoutSeconds', 1);
  setDefault(p, 'periodSeconds', 10);
  setDefault(p, 'successThreshold', 1);
  setDefault(p, 'failureThreshold', 3);
  if (p.httpGet) {
    setDefault(p.httpGet, 'path', '/');
    setDefault(p.httpGet, 'scheme', 'HTTP');
  }
}

export function imagePullPolicyFor(image: string | undefined): string {
  if (!image) return 'IfNotPresent';
  if (image.includes('@')) return 'IfNotPresent';
  const last = image.split('/').pop() ?? '';
  const tag = last.includes(':') ? last.split(':').pop() : undefined;
  return !tag || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultContainer(c: Obj) {
  setDefault(c, 'imagePullPolicy', imagePullPolicyFor(c.image));
  setDefault(c, 'terminationMessagePath', '/dev/termination-log');
  setDefault(c, 'terminationMessagePolicy', 'File');
  setDefault(c, 'resources', {});
  // A limit without a request means the request equals the limit.
  for (const [k, v] of Object.entries(c.resources.limits ?? {})) {
    c.resources.requests ??= {};
    setDefault(c.resources.requests, k, v);
  }
  for (const p of c.ports ?? []) setDefault(p, 'protocol', 'TCP');
  for (const e of c.env ?? []) {
    if (e?.valueFrom?.fieldRef) setDefault(e.valueFrom.fieldRef, 'apiVersion', 'v1');
  }
  defaultProbe(c.livenessProbe);
  defaultProbe(c.readinessProbe);
  defaultProbe(c.startupProbe);
}

export function defaultPodSpec(s: Obj | undefined) {
  if (!s) return;
  setDefault(s, 'restartPolicy', 'Always');
  setDefault(s, 'terminationGracePeriodSeconds', 30);
  setDefault(s, 'dnsPolicy', 'ClusterFirst');
  setDefault(s, 'securityContext', {});
  setDefault(s, 'schedulerName', 'default-scheduler');
  setDefault(s, 'enableServiceLinks', true);
  if (s.serviceAccountName === undefined && s.serviceAccount) s.serviceAccountName = s.serviceAccount;
  setDefault(s, 'serviceAccountName', 'default');
  s.serviceAccount = s.serviceAccountName;
  for (const c of s.initContainers ?? []) defaultContainer(c);
  for (const c of s.containers ?? []) defaultContainer(c);
  for (const c of s.ephemeralContainers ?? []) defaultContainer(c);
  for (const v of s.volumes ?? []) {
    if (v.configMap) setDefault(v.configMap, 'defaultMode', 0o644);
    if (v.secret) setDefault(v.secret, 'defaultMode', 0o644);
    if (v.downwardAPI) setDefault(v.downwardAPI, 'defaultMode', 0o644);
    if (v.projected) setDefault(v.projected, 'defaultMode', 0o644);
    if (v.hostPath) setDefault(v.hostPath, 'type', '');
  }
  for (const t of s.tolerations ?? []) if (t.operator === undefined && t.key !== undefined) t.operator = 'Equal';
}

function defaultTemplate(spec: Obj | undefined) {
  if (spec?.template) defaultPodSpec(spec.template.spec);
}

const DEFAULTERS: Record<string, (o: Obj) => void> = {
  Pod(o) {
    o.spec ??= {};
    defaultPodSpec(o.spec);
    o.status ??= {};
    setDefault(o.status, 'phase', 'Pending');
    const cpuMem = (c: Obj) => c.resources ?? {};
    setDefault(o.status, 'qosClass', qosClass((o.spec.containers ?? []).map(cpuMem)));
  },
  Service(o) {
    const s = (o.spec ??= {});
    setDefault(s, 'type', 'ClusterIP');
    if (s.type !== 'ExternalName') {
      setDefault(s, 'sessionAffinity', 'None');
      setDefault(s, 'internalTrafficPolicy', 'Cluster');
      setDefault(s, 'ipFamilyPolicy', 'SingleStack');
      setDefault(s, 'ipFamilies', ['IPv4']);
    } else {
      setDefault(s, 'sessionAffinity', 'None');
    }
    if (s.type === 'NodePort' || s.type === 'LoadBalancer') setDefault(s, 'externalTrafficPolicy', 'Cluster');
    if (s.type === 'LoadBalancer') setDefault(s, 'allocateLoadBalancerNodePorts', true);
    if (s.sessionAffinity === 'ClientIP') {
      s.sessionAffinityConfig ??= {};
      s.sessionAffinityConfig.clientIP ??= {};
      setDefault(s.sessionAffinityConfig.clientIP, 'timeoutSeconds', 10800);
    }
    for (const p of s.ports ?? []) {
      setDefault(p, 'protocol', 'TCP');
      setDefault(p, 'targetPort', p.port);
    }
    o.status ??= { loadBalancer: {} };
  },
  Namespace(o) {
    o.metadata.labels ??= {};
    o.metadata.labels['kubernetes.io/metadata.name'] = o.metadata.name;
    o.spec ??= {};
    setDefault(o.spec, 'finalizers', ['kubernetes']);
    o.status ??= {};
    setDefault(o.status, 'phase', 'Active');
  },
  Secret(o) {
    setDefault(o, 'type', 'Opaque');
    if (o.stringData) {
      o.data ??= {};
      for (const [k, v] of Object.entries(o.stringData)) o.data[k] = Buffer.from(String(v)).toString('base64');
      delete o.stringData;
    }
  },
  Deployment(o) {
    const s = (o.spec ??= {});
    setDefault(s, 'replicas', 1);
    s.strategy ??= {};
    setDefault(s.strategy, 'type', 'RollingUpdate');
    if (s.strategy.type === 'RollingUpdate') {
      s.strategy.rollingUpdate ??= {};
      setDefault(s.strategy.rollingUpdate, 'maxUnavailable', '25%');
      setDefault(s.strategy.rollingUpdate, 'maxSurge', '25%');
    }
    setDefault(s, 'revisionHistoryLimit', 10);
    setDefault(s, 'progressDeadlineSeconds', 600);
    defaultTemplate(s);
  },
  ReplicaSet(o) {
    o.spec ??= {};
    setDefault(o.spec, 'replicas', 1);
    defaultTemplate(o.spec);
  },
  ReplicationController(o) {
    o.spec ??= {};
    setDefault(o.spec, 'replicas', 1);
    defaultTemplate(o.spec);
    if (!o.spec.selector && o.spec.template?.metadata?.labels) o.spec.selector = { ...o.spec.template.metadata.labels };
  },
  DaemonSet(o) {
    const s = (o.spec ??= {});
    s.updateStrategy ??= {};
    setDefault(s.updateStrategy, 'type', 'RollingUpdate');
    if (s.updateStrategy.type === 'RollingUpdate') {
      s.updateStrategy.rollingUpdate ??= {};
      setDefault(s.updateStrategy.rollingUpdate, 'maxUnavailable', 1);
      setDefault(s.updateStrategy.rollingUpdate, 'maxSurge', 0);
    }
    setDefault(s, 'revisionHistoryLimit', 10);
    defaultTemplate(s);
  },
  StatefulSet(o) {
    const s = (o.spec ??= {});
    setDefault(s, 'replicas', 1);
    setDefault(s, 'podManagementPolicy', 'OrderedReady');
    s.updateStrategy ??= {};
    setDefault(s.updateStrategy, 'type', 'RollingUpdate');
    if (s.updateStrategy.type === 'RollingUpdate') {
      s.updateStrategy.rollingUpdate ??= {};
      setDefault(s.updateStrategy.rollingUpdate, 'partition', 0);
    }
    setDefault(s, 'revisionHistoryLimit', 10);
    s.persistentVolumeClaimRetentionPolicy ??= {};
    setDefault(s.persistentVolumeClaimRetentionPolicy, 'whenDeleted', 'Retain');
    setDefault(s.persistentVolumeClaimRetentionPolicy, 'whenScaled', 'Retain');
    for (const t of s.volumeClaimTemplates ?? []) {
      t.apiVersion ??= 'v1';
      t.kind ??= 'PersistentVolumeClaim';
      t.spec ??= {};
      setDefault(t.spec, 'volumeMode', 'Filesystem');
    }
    defaultTemplate(s);
  },
  Job(o) {
    defaultJobSpec((o.spec ??= {}));
  },
  CronJob(o) {
    const s = (o.spec ??= {});
    setDefault(s, 'concurrencyPolicy', 'Allow');
    setDefault(s, 'suspend', false);
    setDefault(s, 'successfulJobsHistoryLimit', 3);
    setDefault(s, 'failedJobsHistoryLimit', 1);
    if (s.jobTemplate) {
      s.jobTemplate.spec ??= {};
      defaultJobSpec(s.jobTemplate.spec, false);
    }
  },
  PersistentVolume(o) {
    o.spec ??= {};
    setDefault(o.spec, 'persistentVolumeReclaimPolicy', 'Retain');
    setDefault(o.spec, 'volumeMode', 'Filesystem');
    o.status ??= {};
    setDefault(o.status, 'phase', 'Pending');
  },
  PersistentVolumeClaim(o) {
    o.spec ??= {};
    setDefault(o.spec, 'volumeMode', 'Filesystem');
    o.status ??= {};
    setDefault(o.status, 'phase', 'Pending');
  },
  Ingress(o) {
    o.status ??= { loadBalancer: {} };
  },
  StorageClass(o) {
    setDefault(o, 'reclaimPolicy', 'Delete');
    setDefault(o, 'volumeBindingMode', 'Immediate');
  },
  Lease(o) {
    o.spec ??= {};
  },
};

function defaultJobSpec(s: Obj, withCompletions = true) {
  setDefault(s, 'parallelism', 1);
  if (withCompletions || s.completions !== undefined) setDefault(s, 'completions', s.completions ?? 1);
  setDefault(s, 'backoffLimit', 6);
  setDefault(s, 'completionMode', 'NonIndexed');
  setDefault(s, 'suspend', false);
  setDefault(s, 'manualSelector', undefined);
  setDefault(s, 'podReplacementPolicy', 'TerminatingOrFailed');
  if (s.template) {
    s.template.spec ??= {};
    setDefault(s.template.spec, 'restartPolicy', 'Never');
    defaultPodSpec(s.template.spec);
  }
  if (s.manualSelector === undefined) delete s.manualSelector;
}

export function applyDefaults(kind: string, o: Obj): void {
  DEFAULTERS[kind]?.(o);
}
