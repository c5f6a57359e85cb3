// Field numbers of the Kubernetes protobuf messages Skiff decodes, written from the public API
// definitions (k8s.io/api generated.proto). Only what typed clients such as kubectl's `create`
// commands and drain send; a non-empty field missing here is refused, never silently dropped.

/** scalar kinds, or the name of another message */
export type FieldType =
  | 'string'
  | 'bytes'
  | 'int'
  | 'bool'
  | 'time'
  | 'quantity'
  | 'intstr'
  | 'map<string,string>'
  | 'map<string,bytes>'
  | 'map<string,quantity>'
  | string;

export interface Field {
  name: string;
  type: FieldType;
  repeated?: boolean;
  /** A Go pointer: present means set, even when zero. */
  ptr?: boolean;
  /** Embedded struct whose fields JSON inlines into the parent. */
  inline?: boolean;
}

const f = (name: string, type: FieldType, o: Omit<Field, 'name' | 'type'> = {}): Field => ({ name, type, ...o });
const rep = (name: string, type: FieldType): Field => ({ name, type, repeated: true });
const ptr = (name: string, type: FieldType): Field => ({ name, type, ptr: true });

export const MESSAGES: Record<string, Record<number, Field>> = {
  // k8s.io/apimachinery/pkg/runtime
  Unknown: {
    1: f('typeMeta', 'TypeMeta'),
    2: f('raw', 'bytes'),
    3: f('contentEncoding', 'string'),
    4: f('contentType', 'string'),
  },
  TypeMeta: { 1: f('apiVersion', 'string'), 2: f('kind', 'string') },
  // meta/v1
  ObjectMeta: {
    1: f('name', 'string'),
    2: f('generateName', 'string'),
    3: f('namespace', 'string'),
    4: f('selfLink', 'string'),
    5: f('uid', 'string'),
    6: f('resourceVersion', 'string'),
    7: f('generation', 'int'),
    8: f('creationTimestamp', 'time'),
    9: f('deletionTimestamp', 'time'),
    10: ptr('deletionGracePeriodSeconds', 'int'),
    11: f('labels', 'map<string,string>'),
    12: f('annotations', 'map<string,string>'),
    13: rep('ownerReferences', 'OwnerReference'),
    14: rep('finalizers', 'string'),
    17: rep('managedFields', 'ManagedFieldsEntry'),
  },
  OwnerReference: {
    1: f('kind', 'string'),
    3: f('name', 'string'),
    4: f('uid', 'string'),
    5: f('apiVersion', 'string'),
    6: ptr('controller', 'bool'),
    7: ptr('blockOwnerDeletion', 'bool'),
  },
  ManagedFieldsEntry: {
    1: f('manager', 'string'),
    2: f('operation', 'string'),
    3: f('apiVersion', 'string'),
    4: f('time', 'time'),
    6: f('fieldsType', 'string'),
    7: f('fieldsV1', 'FieldsV1'),
    8: f('subresource', 'string'),
  },
  FieldsV1: { 1: f('Raw', 'bytes') },
  LabelSelector: { 1: f('matchLabels', 'map<string,string>'), 2: rep('matchExpressions', 'LabelSelectorRequirement') },
  LabelSelectorRequirement: { 1: f('key', 'string'), 2: f('operator', 'string'), 3: rep('values', 'string') },
  DeleteOptions: {
    1: ptr('gracePeriodSeconds', 'int'),
    2: f('preconditions', 'Preconditions'),
    3: ptr('orphanDependents', 'bool'),
    4: ptr('propagationPolicy', 'string'),
    5: rep('dryRun', 'string'),
  },
  Preconditions: { 1: ptr('uid', 'string'), 2: ptr('resourceVersion', 'string') },
  // core/v1
  Namespace: { 1: f('metadata', 'ObjectMeta'), 2: f('spec', 'NamespaceSpec'), 3: f('status', 'NamespaceStatus') },
  NamespaceSpec: { 1: rep('finalizers', 'string') },
  NamespaceStatus: { 1: f('phase', 'string') },
  ConfigMap: {
    1: f('metadata', 'ObjectMeta'),
    2: f('data', 'map<string,string>'),
    3: f('binaryData', 'map<string,bytes>'),
    4: ptr('immutable', 'bool'),
  },
  Secret: {
    1: f('metadata', 'ObjectMeta'),
    2: f('data', 'map<string,bytes>'),
    3: f('type', 'string'),
    4: f('stringData', 'map<string,string>'),
    5: ptr('immutable', 'bool'),
  },
  ServiceAccount: {
    1: f('metadata', 'ObjectMeta'),
    2: rep('secrets', 'ObjectReference'),
    3: rep('imagePullSecrets', 'LocalObjectReference'),
    4: ptr('automountServiceAccountToken', 'bool'),
  },
  ObjectReference: {
    1: f('kind', 'string'),
    2: f('namespace', 'string'),
    3: f('name', 'string'),
    4: f('uid', 'string'),
    5: f('apiVersion', 'string'),
    6: f('resourceVersion', 'string'),
    7: f('fieldPath', 'string'),
  },
  LocalObjectReference: { 1: f('name', 'string') },
  Binding: { 1: f('metadata', 'ObjectMeta'), 2: f('target', 'ObjectReference') },
  Service: { 1: f('metadata', 'ObjectMeta'), 2: f('spec', 'ServiceSpec'), 3: f('status', 'ServiceStatus') },
  ServiceSpec: {
    1: rep('ports', 'ServicePort'),
    2: f('selector', 'map<string,string>'),
    3: f('clusterIP', 'string'),
    4: f('type', 'string'),
    5: rep('externalIPs', 'string'),
    7: f('sessionAffinity', 'string'),
    8: f('loadBalancerIP', 'string'),
    9: rep('loadBalancerSourceRanges', 'string'),
    10: f('externalName', 'string'),
    11: f('externalTrafficPolicy', 'string'),
    12: f('healthCheckNodePort', 'int'),
    13: f('publishNotReadyAddresses', 'bool'),
    17: ptr('ipFamilyPolicy', 'string'),
    18: rep('clusterIPs', 'string'),
    19: rep('ipFamilies', 'string'),
    20: ptr('allocateLoadBalancerNodePorts', 'bool'),
    21: ptr('loadBalancerClass', 'string'),
    22: ptr('internalTrafficPolicy', 'string'),
    23: ptr('trafficDistribution', 'string'),
  },
  ServicePort: {
    1: f('name', 'string'),
    2: f('protocol', 'string'),
    3: f('port', 'int'),
    4: f('targetPort', 'intstr'),
    5: f('nodePort', 'int'),
    6: ptr('appProtocol', 'string'),
  },
  ServiceStatus: { 1: f('loadBalancer', 'LoadBalancerStatus') },
  LoadBalancerStatus: { 1: rep('ingress', 'LoadBalancerIngress') },
  LoadBalancerIngress: { 1: f('ip', 'string'), 2: f('hostname', 'string') },
  Pod: { 1: f('metadata', 'ObjectMeta'), 2: f('spec', 'PodSpec'), 3: f('status', 'PodStatus') },
  PodStatus: { 1: f('phase', 'string') },
  PodTemplateSpec: { 1: f('metadata', 'ObjectMeta'), 2: f('spec', 'PodSpec') },
  PodSpec: {
    2: rep('containers', 'Container'),
    3: f('restartPolicy', 'string'),
    4: ptr('terminationGracePeriodSeconds', 'int'),
    5: ptr('activeDeadlineSeconds', 'int'),
    6: f('dnsPolicy', 'string'),
    7: f('nodeSelector', 'map<string,string>'),
    8: f('serviceAccountName', 'string'),
    9: f('serviceAccount', 'string'),
    10: f('nodeName', 'string'),
    11: f('hostNetwork', 'bool'),
    12: f('hostPID', 'bool'),
    13: f('hostIPC', 'bool'),
    15: rep('imagePullSecrets', 'LocalObjectReference'),
    16: f('hostname', 'string'),
    17: f('subdomain', 'string'),
    19: f('schedulerName', 'string'),
    20: rep('initContainers', 'Container'),
    21: ptr('automountServiceAccountToken', 'bool'),
    22: rep('tolerations', 'Toleration'),
    24: f('priorityClassName', 'string'),
    25: ptr('priority', 'int'),
    29: ptr('runtimeClassName', 'string'),
    30: ptr('enableServiceLinks', 'bool'),
    31: ptr('preemptionPolicy', 'string'),
  },
  Toleration: {
    1: f('key', 'string'),
    2: f('operator', 'string'),
    3: f('value', 'string'),
    4: f('effect', 'string'),
    5: ptr('tolerationSeconds', 'int'),
  },
  Container: {
    1: f('name', 'string'),
    2: f('image', 'string'),
    3: rep('command', 'string'),
    4: rep('args', 'string'),
    5: f('workingDir', 'string'),
    6: rep('ports', 'ContainerPort'),
    7: rep('env', 'EnvVar'),
    8: f('resources', 'ResourceRequirements'),
    13: f('terminationMessagePath', 'string'),
    14: f('imagePullPolicy', 'string'),
    16: f('stdin', 'bool'),
    17: f('stdinOnce', 'bool'),
    18: f('tty', 'bool'),
    20: f('terminationMessagePolicy', 'string'),
    24: ptr('restartPolicy', 'string'),
  },
  ContainerPort: {
    1: f('name', 'string'),
    2: f('hostPort', 'int'),
    3: f('containerPort', 'int'),
    4: f('protocol', 'string'),
    5: f('hostIP', 'string'),
  },
  EnvVar: { 1: f('name', 'string'), 2: f('value', 'string') },
  ResourceRequirements: { 1: f('limits', 'map<string,quantity>'), 2: f('requests', 'map<string,quantity>') },
  // apps/v1
  Deployment: { 1: f('metadata', 'ObjectMeta'), 2: f('spec', 'DeploymentSpec'), 3: f('status', 'DeploymentStatus') },
  DeploymentSpec: {
    1: ptr('replicas', 'int'),
    2: f('selector', 'LabelSelector'),
    3: f('template', 'PodTemplateSpec'),
    4: f('strategy', 'DeploymentStrategy'),
    5: f('minReadySeconds', 'int'),
    6: ptr('revisionHistoryLimit', 'int'),
    7: f('paused', 'bool'),
    9: ptr('progressDeadlineSeconds', 'int'),
  },
  DeploymentStrategy: { 1: f('type', 'string'), 2: f('rollingUpdate', 'RollingUpdateDeployment') },
  RollingUpdateDeployment: { 1: ptr('maxUnavailable', 'intstr'), 2: ptr('maxSurge', 'intstr') },
  DeploymentStatus: { 1: f('observedGeneration', 'int') },
  // batch/v1
  Job: { 1: f('metadata', 'ObjectMeta'), 2: f('spec', 'JobSpec'), 3: f('status', 'JobStatus') },
  JobSpec: {
    1: ptr('parallelism', 'int'),
    2: ptr('completions', 'int'),
    3: ptr('activeDeadlineSeconds', 'int'),
    4: f('selector', 'LabelSelector'),
    5: ptr('manualSelector', 'bool'),
    6: f('template', 'PodTemplateSpec'),
    7: ptr('backoffLimit', 'int'),
    8: ptr('ttlSecondsAfterFinished', 'int'),
    9: ptr('completionMode', 'string'),
    10: ptr('suspend', 'bool'),
    12: ptr('backoffLimitPerIndex', 'int'),
    13: ptr('maxFailedIndexes', 'int'),
    14: ptr('podReplacementPolicy', 'string'),
    15: ptr('managedBy', 'string'),
  },
  JobStatus: { 4: f('active', 'int') },
  JobTemplateSpec: { 1: f('metadata', 'ObjectMeta'), 2: f('spec', 'JobSpec') },
  CronJob: { 1: f('metadata', 'ObjectMeta'), 2: f('spec', 'CronJobSpec'), 3: f('status', 'CronJobStatus') },
  CronJobSpec: {
    1: f('schedule', 'string'),
    2: ptr('startingDeadlineSeconds', 'int'),
    3: f('concurrencyPolicy', 'string'),
    4: ptr('suspend', 'bool'),
    5: f('jobTemplate', 'JobTemplateSpec'),
    6: ptr('successfulJobsHistoryLimit', 'int'),
    7: ptr('failedJobsHistoryLimit', 'int'),
    8: ptr('timeZone', 'string'),
  },
  CronJobStatus: { 1: rep('active', 'ObjectReference') },
  // networking.k8s.io/v1
  Ingress: { 1: f('metadata', 'ObjectMeta'), 2: f('spec', 'IngressSpec'), 3: f('status', 'IngressStatus') },
  IngressSpec: {
    1: f('defaultBackend', 'IngressBackend'),
    2: rep('tls', 'IngressTLS'),
    3: rep('rules', 'IngressRule'),
    4: ptr('ingressClassName', 'string'),
  },
  IngressTLS: { 1: rep('hosts', 'string'), 2: f('secretName', 'string') },
  IngressRule: { 1: f('host', 'string'), 2: f('ingressRuleValue', 'IngressRuleValue', { inline: true }) },
  IngressRuleValue: { 1: f('http', 'HTTPIngressRuleValue') },
  HTTPIngressRuleValue: { 1: rep('paths', 'HTTPIngressPath') },
  HTTPIngressPath: { 1: f('path', 'string'), 2: f('backend', 'IngressBackend'), 3: ptr('pathType', 'string') },
  IngressBackend: { 3: f('resource', 'TypedLocalObjectReference'), 4: f('service', 'IngressServiceBackend') },
  TypedLocalObjectReference: { 1: ptr('apiGroup', 'string'), 2: f('kind', 'string'), 3: f('name', 'string') },
  IngressServiceBackend: { 1: f('name', 'string'), 2: f('port', 'ServiceBackendPort') },
  ServiceBackendPort: { 1: f('name', 'string'), 2: f('number', 'int') },
  IngressStatus: { 1: f('loadBalancer', 'IngressLoadBalancerStatus') },
  IngressLoadBalancerStatus: { 1: rep('ingress', 'LoadBalancerIngress') },
  // rbac.authorization.k8s.io/v1
  Role: { 1: f('metadata', 'ObjectMeta'), 2: rep('rules', 'PolicyRule') },
  ClusterRole: {
    1: f('metadata', 'ObjectMeta'),
    2: rep('rules', 'PolicyRule'),
    3: f('aggregationRule', 'AggregationRule'),
  },
  AggregationRule: { 1: rep('clusterRoleSelectors', 'LabelSelector') },
  PolicyRule: {
    1: rep('verbs', 'string'),
    2: rep('apiGroups', 'string'),
    3: rep('resources', 'string'),
    4: rep('resourceNames', 'string'),
    5: rep('nonResourceURLs', 'string'),
  },
  RoleBinding: { 1: f('metadata', 'ObjectMeta'), 2: rep('subjects', 'Subject'), 3: f('roleRef', 'RoleRef') },
  ClusterRoleBinding: { 1: f('metadata', 'ObjectMeta'), 2: rep('subjects', 'Subject'), 3: f('roleRef', 'RoleRef') },
  Subject: { 1: f('kind', 'string'), 2: f('apiGroup', 'string'), 3: f('name', 'string'), 4: f('namespace', 'string') },
  RoleRef: { 1: f('apiGroup', 'string'), 2: f('kind', 'string'), 3: f('name', 'string') },
  // policy/v1
  PodDisruptionBudget: {
    1: f('metadata', 'ObjectMeta'),
    2: f('spec', 'PodDisruptionBudgetSpec'),
    3: f('status', 'PodDisruptionBudgetStatus'),
  },
  PodDisruptionBudgetSpec: {
    1: ptr('minAvailable', 'intstr'),
    2: f('selector', 'LabelSelector'),
    3: ptr('maxUnavailable', 'intstr'),
    4: ptr('unhealthyPodEvictionPolicy', 'string'),
  },
  PodDisruptionBudgetStatus: { 1: f('observedGeneration', 'int') },
  Eviction: { 1: f('metadata', 'ObjectMeta'), 2: f('deleteOptions', 'DeleteOptions') },
  // coordination.k8s.io/v1
  Lease: { 1: f('metadata', 'ObjectMeta'), 2: f('spec', 'LeaseSpec') },
  LeaseSpec: {
    1: ptr('holderIdentity', 'string'),
    2: ptr('leaseDurationSeconds', 'int'),
    3: f('acquireTime', 'time'),
    4: f('renewTime', 'time'),
    5: ptr('leaseTransitions', 'int'),
  },
  // autoscaling/v1
  Scale: { 1: f('metadata', 'ObjectMeta'), 2: f('spec', 'ScaleSpec'), 3: f('status', 'ScaleStatus') },
  ScaleSpec: { 1: f('replicas', 'int') },
  ScaleStatus: { 1: f('replicas', 'int'), 2: f('selector', 'string') },
};

/** Top-level kinds a protobuf body may carry. */
export const TOP_LEVEL = new Set([
  'Namespace',
  'ConfigMap',
  'Secret',
  'ServiceAccount',
  'Binding',
  'Service',
  'Pod',
  'Deployment',
  'Job',
  'CronJob',
  'Ingress',
  'Role',
  'ClusterRole',
  'RoleBinding',
  'ClusterRoleBinding',
  'PodDisruptionBudget',
  'Eviction',
  'Lease',
  'Scale',
  'DeleteOptions',
]);
