// apps, batch, networking, discovery, coordination, rbac, autoscaling and policy types.
import { any, bool, int, intOrStr, keyed, list, obj, str, strMap, time, type Schema } from './dsl.ts';
import { Condition, LabelSelector, ObjectMeta, topLevel } from './meta.ts';
import { ObjectReference, PersistentVolumeClaimSpec, PodTemplateSpec } from './core.ts';

const A = 'io.k8s.api.apps.v1.';
const conds = (n: string) =>
  keyed(
    obj(
      n,
      {
        type: str(),
        status: str(),
        lastUpdateTime: time,
        lastTransitionTime: time,
        reason: str(),
        message: str(),
      },
      ['type', 'status'],
    ),
    'type',
  );
const RollingUpdate = (n: string, props: Record<string, Schema>) => obj(n, props);

export const Deployment = topLevel(A + 'Deployment', {
  spec: obj(
    A + 'DeploymentSpec',
    {
      replicas: int(),
      selector: LabelSelector,
      template: PodTemplateSpec,
      strategy: obj(A + 'DeploymentStrategy', {
        type: str({ enum: ['Recreate', 'RollingUpdate'] }),
        rollingUpdate: RollingUpdate(A + 'RollingUpdateDeployment', { maxUnavailable: intOrStr, maxSurge: intOrStr }),
      }),
      minReadySeconds: int(),
      revisionHistoryLimit: int(),
      paused: bool,
      progressDeadlineSeconds: int(),
    },
    ['selector', 'template'],
  ),
  status: obj(A + 'DeploymentStatus', {
    observedGeneration: int('int64'),
    replicas: int(),
    updatedReplicas: int(),
    readyReplicas: int(),
    availableReplicas: int(),
    unavailableReplicas: int(),
    terminatingReplicas: int(),
    conditions: conds(A + 'DeploymentCondition'),
    collisionCount: int(),
  }),
});
export const ReplicaSet = topLevel(A + 'ReplicaSet', {
  spec: obj(
    A + 'ReplicaSetSpec',
    { replicas: int(), minReadySeconds: int(), selector: LabelSelector, template: PodTemplateSpec },
    ['selector'],
  ),
  status: obj(A + 'ReplicaSetStatus', {
    replicas: int(),
    fullyLabeledReplicas: int(),
    readyReplicas: int(),
    availableReplicas: int(),
    terminatingReplicas: int(),
    observedGeneration: int('int64'),
    conditions: conds(A + 'ReplicaSetCondition'),
  }),
});
export const DaemonSet = topLevel(A + 'DaemonSet', {
  spec: obj(
    A + 'DaemonSetSpec',
    {
      selector: LabelSelector,
      template: PodTemplateSpec,
      updateStrategy: obj(A + 'DaemonSetUpdateStrategy', {
        type: str({ enum: ['RollingUpdate', 'OnDelete'] }),
        rollingUpdate: RollingUpdate(A + 'RollingUpdateDaemonSet', { maxUnavailable: intOrStr, maxSurge: intOrStr }),
      }),
      minReadySeconds: int(),
      revisionHistoryLimit: int(),
    },
    ['selector', 'template'],
  ),
  status: obj(A + 'DaemonSetStatus', {
    currentNumberScheduled: int(),
    numberMisscheduled: int(),
    desiredNumberScheduled: int(),
    numberReady: int(),
    observedGeneration: int('int64'),
    updatedNumberScheduled: int(),
    numberAvailable: int(),
    numberUnavailable: int(),
    collisionCount: int(),
    conditions: conds(A + 'DaemonSetCondition'),
  }),
});
export const StatefulSet = topLevel(A + 'StatefulSet', {
  spec: obj(
    A + 'StatefulSetSpec',
    {
      replicas: int(),
      selector: LabelSelector,
      template: PodTemplateSpec,
      volumeClaimTemplates: list(
        obj('io.k8s.api.core.v1.PersistentVolumeClaimTemplate', {
          apiVersion: str(),
          kind: str(),
          metadata: ObjectMeta,
          spec: PersistentVolumeClaimSpec,
          status: any,
        }),
      ),
      serviceName: str(),
      podManagementPolicy: str({ enum: ['OrderedReady', 'Parallel'] }),
      updateStrategy: obj(A + 'StatefulSetUpdateStrategy', {
        type: str({ enum: ['RollingUpdate', 'OnDelete'] }),
        rollingUpdate: RollingUpdate(A + 'RollingUpdateStatefulSetStrategy', {
          partition: int(),
          maxUnavailable: intOrStr,
        }),
      }),
      revisionHistoryLimit: int(),
      minReadySeconds: int(),
      persistentVolumeClaimRetentionPolicy: obj(A + 'StatefulSetPersistentVolumeClaimRetentionPolicy', {
        whenDeleted: str(),
        whenScaled: str(),
      }),
      ordinals: obj(A + 'StatefulSetOrdinals', { start: int() }),
    },
    ['selector', 'template'],
  ),
  status: obj(A + 'StatefulSetStatus', {
    observedGeneration: int('int64'),
    replicas: int(),
    readyReplicas: int(),
    currentReplicas: int(),
    updatedReplicas: int(),
    currentRevision: str(),
    updateRevision: str(),
    collisionCount: int(),
    conditions: conds(A + 'StatefulSetCondition'),
    availableReplicas: int(),
  }),
});
export const ControllerRevision = topLevel(A + 'ControllerRevision', { data: any, revision: int('int64') });

const B = 'io.k8s.api.batch.v1.';
const JobSpec = obj(
  B + 'JobSpec',
  {
    parallelism: int(),
    completions: int(),
    activeDeadlineSeconds: int('int64'),
    backoffLimit: int(),
    backoffLimitPerIndex: int(),
    maxFailedIndexes: int(),
    selector: LabelSelector,
    manualSelector: bool,
    template: PodTemplateSpec,
    ttlSecondsAfterFinished: int(),
    completionMode: str({ enum: ['NonIndexed', 'Indexed'] }),
    suspend: bool,
    podFailurePolicy: any,
    successPolicy: any,
    podReplacementPolicy: str(),
    managedBy: str(),
  },
  ['template'],
);
const JobStatus = obj(B + 'JobStatus', {
  conditions: list(
    obj(
      B + 'JobCondition',
      {
        type: str(),
        status: str(),
        lastProbeTime: time,
        lastTransitionTime: time,
        reason: str(),
        message: str(),
      },
      ['type', 'status'],
    ),
  ),
  startTime: time,
  completionTime: time,
  active: int(),
  succeeded: int(),
  failed: int(),
  terminating: int(),
  completedIndexes: str(),
  failedIndexes: str(),
  uncountedTerminatedPods: any,
  ready: int(),
});
export const Job = topLevel(B + 'Job', { spec: JobSpec, status: JobStatus });
export const CronJob = topLevel(B + 'CronJob', {
  spec: obj(
    B + 'CronJobSpec',
    {
      schedule: str(),
      timeZone: str(),
      startingDeadlineSeconds: int('int64'),
      concurrencyPolicy: str({ enum: ['Allow', 'Forbid', 'Replace'] }),
      suspend: bool,
      jobTemplate: obj(B + 'JobTemplateSpec', { metadata: ObjectMeta, spec: JobSpec }),
      successfulJobsHistoryLimit: int(),
      failedJobsHistoryLimit: int(),
    },
    ['schedule', 'jobTemplate'],
  ),
  status: obj(B + 'CronJobStatus', { active: list(ObjectReference), lastScheduleTime: time, lastSuccessfulTime: time }),
});

const N = 'io.k8s.api.networking.v1.';
const IngressBackend = obj(N + 'IngressBackend', {
  service: obj(
    N + 'IngressServiceBackend',
    {
      name: str(),
      port: obj(N + 'ServiceBackendPort', { name: str(), number: int() }),
    },
    ['name'],
  ),
  resource: obj('io.k8s.api.core.v1.TypedLocalObjectReference', { apiGroup: str(), kind: str(), name: str() }, [
    'kind',
    'name',
  ]),
});
export const Ingress = topLevel(N + 'Ingress', {
  spec: obj(N + 'IngressSpec', {
    ingressClassName: str(),
    defaultBackend: IngressBackend,
    tls: list(obj(N + 'IngressTLS', { hosts: list(str()), secretName: str() })),
    rules: list(
      obj(N + 'IngressRule', {
        host: str(),
        http: obj(
          N + 'HTTPIngressRuleValue',
          {
            paths: list(
              obj(
                N + 'HTTPIngressPath',
                {
                  path: str(),
                  pathType: str({ enum: ['Exact', 'Prefix', 'ImplementationSpecific'] }),
                  backend: IngressBackend,
                },
                ['pathType', 'backend'],
              ),
            ),
          },
          ['paths'],
        ),
      }),
    ),
  }),
  status: obj(N + 'IngressStatus', { loadBalancer: obj(N + 'IngressLoadBalancerStatus', { ingress: list(any) }) }),
});
export const IngressClass = topLevel(N + 'IngressClass', {
  spec: obj(N + 'IngressClassSpec', { controller: str(), parameters: any }),
});
const NetworkPolicyPeer = obj(N + 'NetworkPolicyPeer', {
  podSelector: LabelSelector,
  namespaceSelector: LabelSelector,
  ipBlock: obj(N + 'IPBlock', { cidr: str(), except: list(str()) }, ['cidr']),
});
const NetworkPolicyPort = obj(N + 'NetworkPolicyPort', { protocol: str(), port: intOrStr, endPort: int() });
export const NetworkPolicy = topLevel(N + 'NetworkPolicy', {
  spec: obj(N + 'NetworkPolicySpec', {
    podSelector: LabelSelector,
    ingress: list(
      obj(N + 'NetworkPolicyIngressRule', { ports: list(NetworkPolicyPort), from: list(NetworkPolicyPeer) }),
    ),
    egress: list(obj(N + 'NetworkPolicyEgressRule', { ports: list(NetworkPolicyPort), to: list(NetworkPolicyPeer) })),
    policyTypes: list(str()),
  }),
});

const D = 'io.k8s.api.discovery.v1.';
export const EndpointSlice = topLevel(D + 'EndpointSlice', {
  addressType: str({ enum: ['IPv4', 'IPv6', 'FQDN'] }),
  endpoints: list(
    obj(
      D + 'Endpoint',
      {
        addresses: list(str()),
        conditions: obj(D + 'EndpointConditions', { ready: bool, serving: bool, terminating: bool }),
        hostname: str(),
        targetRef: ObjectReference,
        deprecatedTopology: strMap(),
        nodeName: str(),
        zone: str(),
        hints: obj(D + 'EndpointHints', { forZones: list(obj(D + 'ForZone', { name: str() })), forNodes: list(any) }),
      },
      ['addresses'],
    ),
  ),
  ports: list(obj(D + 'EndpointPort', { name: str(), protocol: str(), port: int(), appProtocol: str() })),
});

export const Lease = topLevel('io.k8s.api.coordination.v1.Lease', {
  spec: obj('io.k8s.api.coordination.v1.LeaseSpec', {
    holderIdentity: str(),
    leaseDurationSeconds: int(),
    acquireTime: time,
    renewTime: time,
    leaseTransitions: int(),
    strategy: str(),
    preferredHolder: str(),
  }),
});

const R = 'io.k8s.api.rbac.v1.';
const PolicyRule = obj(
  R + 'PolicyRule',
  {
    verbs: list(str()),
    apiGroups: list(str()),
    resources: list(str()),
    resourceNames: list(str()),
    nonResourceURLs: list(str()),
  },
  ['verbs'],
);
const RoleRef = obj(R + 'RoleRef', { apiGroup: str(), kind: str(), name: str() }, ['apiGroup', 'kind', 'name']);
const Subject = obj(R + 'Subject', { kind: str(), apiGroup: str(), name: str(), namespace: str() }, ['kind', 'name']);
export const Role = topLevel(R + 'Role', { rules: list(PolicyRule) });
export const ClusterRole = topLevel(R + 'ClusterRole', {
  rules: list(PolicyRule),
  aggregationRule: obj(R + 'AggregationRule', { clusterRoleSelectors: list(LabelSelector) }),
});
export const RoleBinding = topLevel(R + 'RoleBinding', { subjects: list(Subject), roleRef: RoleRef });
export const ClusterRoleBinding = topLevel(R + 'ClusterRoleBinding', { subjects: list(Subject), roleRef: RoleRef });

export const Scale = topLevel('io.k8s.api.autoscaling.v1.Scale', {
  spec: obj('io.k8s.api.autoscaling.v1.ScaleSpec', { replicas: int() }),
  status: obj('io.k8s.api.autoscaling.v1.ScaleStatus', { replicas: int(), selector: str() }, ['replicas']),
});
export const Eviction = topLevel('io.k8s.api.policy.v1.Eviction', { deleteOptions: any });
export const PodDisruptionBudget = topLevel('io.k8s.api.policy.v1.PodDisruptionBudget', {
  spec: obj('io.k8s.api.policy.v1.PodDisruptionBudgetSpec', {
    minAvailable: intOrStr,
    maxUnavailable: intOrStr,
    selector: LabelSelector,
    unhealthyPodEvictionPolicy: str(),
  }),
  status: obj('io.k8s.api.policy.v1.PodDisruptionBudgetStatus', {
    observedGeneration: int('int64'),
    disruptedPods: any,
    disruptionsAllowed: int(),
    currentHealthy: int(),
    desiredHealthy: int(),
    expectedPods: int(),
    conditions: keyed(Condition, 'type'),
  }),
});
export const StorageClass = topLevel('io.k8s.api.storage.v1.StorageClass', {
  provisioner: str(),
  parameters: strMap(),
  reclaimPolicy: str(),
  mountOptions: list(str()),
  allowVolumeExpansion: bool,
  volumeBindingMode: str({ enum: ['Immediate', 'WaitForFirstConsumer'] }),
  allowedTopologies: list(any),
});
