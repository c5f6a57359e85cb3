// core/v1 types: the subset of fields Skiff knows, described once (see dsl.ts).
import {
  any,
  bool,
  int,
  intOrStr,
  keyed,
  list,
  map,
  num,
  obj,
  quantity,
  set,
  str,
  strMap,
  time,
  type Schema,
} from './dsl.ts';
import { LabelSelector, ObjectMeta, topLevel } from './meta.ts';

const P = 'io.k8s.api.core.v1.';
const ref = (n: string, props: Record<string, Schema>, req: string[] = []) => obj(P + n, props, req);

export const ResourceRequirements = ref('ResourceRequirements', {
  limits: map(quantity),
  requests: map(quantity),
  claims: keyed(ref('ResourceClaim', { name: str(), request: str() }), 'name'),
});
const KeySelector = (n: string) => ref(n, { name: str(), key: str(), optional: bool }, ['key']);
export const ObjectFieldSelector = ref('ObjectFieldSelector', { apiVersion: str(), fieldPath: str() }, ['fieldPath']);
export const ResourceFieldSelector = ref(
  'ResourceFieldSelector',
  { containerName: str(), resource: str(), divisor: quantity },
  ['resource'],
);
export const EnvVar = ref(
  'EnvVar',
  {
    name: str(),
    value: str(),
    valueFrom: ref('EnvVarSource', {
      configMapKeyRef: KeySelector('ConfigMapKeySelector'),
      secretKeyRef: KeySelector('SecretKeySelector'),
      fieldRef: ObjectFieldSelector,
      resourceFieldRef: ResourceFieldSelector,
    }),
  },
  ['name'],
);
const EnvFromSource = ref('EnvFromSource', {
  prefix: str(),
  configMapRef: ref('ConfigMapEnvSource', { name: str(), optional: bool }),
  secretRef: ref('SecretEnvSource', { name: str(), optional: bool }),
});
export const ContainerPort = ref(
  'ContainerPort',
  {
    name: str(),
    containerPort: int(),
    hostPort: int(),
    hostIP: str(),
    protocol: str({ enum: ['TCP', 'UDP', 'SCTP'] }),
  },
  ['containerPort'],
);
const HTTPHeader = ref('HTTPHeader', { name: str(), value: str() }, ['name', 'value']);
const ExecAction = ref('ExecAction', { command: list(str()) });
const HTTPGetAction = ref(
  'HTTPGetAction',
  {
    path: str(),
    port: intOrStr,
    host: str(),
    scheme: str({ enum: ['HTTP', 'HTTPS'] }),
    httpHeaders: list(HTTPHeader),
  },
  ['port'],
);
const TCPSocketAction = ref('TCPSocketAction', { port: intOrStr, host: str() }, ['port']);
const GRPCAction = ref('GRPCAction', { port: int(), service: str() }, ['port']);
export const Probe = ref('Probe', {
  exec: ExecAction,
  httpGet: HTTPGetAction,
  tcpSocket: TCPSocketAction,
  grpc: GRPCAction,
  initialDelaySeconds: int(),
  timeoutSeconds: int(),
  periodSeconds: int(),
  successThreshold: int(),
  failureThreshold: int(),
  terminationGracePeriodSeconds: int('int64'),
});
const LifecycleHandler = ref('LifecycleHandler', {
  exec: ExecAction,
  httpGet: HTTPGetAction,
  tcpSocket: TCPSocketAction,
  sleep: ref('SleepAction', { seconds: int('int64') }),
});
const Capabilities = ref('Capabilities', { add: list(str()), drop: list(str()) });
const SELinuxOptions = ref('SELinuxOptions', { user: str(), role: str(), type: str(), level: str() });
const SeccompProfile = ref('SeccompProfile', { type: str(), localhostProfile: str() }, ['type']);
export const SecurityContext = ref('SecurityContext', {
  capabilities: Capabilities,
  privileged: bool,
  seLinuxOptions: SELinuxOptions,
  runAsUser: int('int64'),
  runAsGroup: int('int64'),
  runAsNonRoot: bool,
  readOnlyRootFilesystem: bool,
  allowPrivilegeEscalation: bool,
  procMount: str(),
  seccompProfile: SeccompProfile,
});
const VolumeMount = ref(
  'VolumeMount',
  {
    name: str(),
    readOnly: bool,
    mountPath: str(),
    subPath: str(),
    subPathExpr: str(),
    mountPropagation: str(),
    recursiveReadOnly: str(),
  },
  ['name', 'mountPath'],
);
const VolumeDevice = ref('VolumeDevice', { name: str(), devicePath: str() }, ['name', 'devicePath']);
export const Container = ref(
  'Container',
  {
    name: str(),
    image: str(),
    command: list(str()),
    args: list(str()),
    workingDir: str(),
    ports: keyed(ContainerPort, 'containerPort', 'protocol'),
    envFrom: list(EnvFromSource),
    env: keyed(EnvVar, 'name'),
    resources: ResourceRequirements,
    resizePolicy: list(ref('ContainerResizePolicy', { resourceName: str(), restartPolicy: str() })),
    restartPolicy: str(),
    volumeMounts: keyed(VolumeMount, 'mountPath'),
    volumeDevices: keyed(VolumeDevice, 'devicePath'),
    livenessProbe: Probe,
    readinessProbe: Probe,
    startupProbe: Probe,
    lifecycle: ref('Lifecycle', { postStart: LifecycleHandler, preStop: LifecycleHandler, stopSignal: str() }),
    terminationMessagePath: str(),
    terminationMessagePolicy: str({ enum: ['File', 'FallbackToLogsOnError'] }),
    imagePullPolicy: str({ enum: ['Always', 'Never', 'IfNotPresent'] }),
    securityContext: SecurityContext,
    stdin: bool,
    stdinOnce: bool,
    tty: bool,
  },
  ['name'],
);
const KeyToPath = ref('KeyToPath', { key: str(), path: str(), mode: int() }, ['key', 'path']);
const DownwardAPIVolumeFile = ref(
  'DownwardAPIVolumeFile',
  {
    path: str(),
    fieldRef: ObjectFieldSelector,
    resourceFieldRef: ResourceFieldSelector,
    mode: int(),
  },
  ['path'],
);
const VolumeProjection = ref('VolumeProjection', {
  secret: ref('SecretProjection', { name: str(), items: list(KeyToPath), optional: bool }),
  configMap: ref('ConfigMapProjection', { name: str(), items: list(KeyToPath), optional: bool }),
  downwardAPI: ref('DownwardAPIProjection', { items: list(DownwardAPIVolumeFile) }),
  serviceAccountToken: ref(
    'ServiceAccountTokenProjection',
    { audience: str(), expirationSeconds: int('int64'), path: str() },
    ['path'],
  ),
});
export const Volume = ref(
  'Volume',
  {
    name: str(),
    hostPath: ref('HostPathVolumeSource', { path: str(), type: str() }, ['path']),
    emptyDir: ref('EmptyDirVolumeSource', { medium: str(), sizeLimit: quantity }),
    secret: ref('SecretVolumeSource', {
      secretName: str(),
      items: list(KeyToPath),
      defaultMode: int(),
      optional: bool,
    }),
    configMap: ref('ConfigMapVolumeSource', {
      name: str(),
      items: list(KeyToPath),
      defaultMode: int(),
      optional: bool,
    }),
    downwardAPI: ref('DownwardAPIVolumeSource', { items: list(DownwardAPIVolumeFile), defaultMode: int() }),
    projected: ref('ProjectedVolumeSource', { sources: list(VolumeProjection), defaultMode: int() }),
    persistentVolumeClaim: ref('PersistentVolumeClaimVolumeSource', { claimName: str(), readOnly: bool }, [
      'claimName',
    ]),
    nfs: ref('NFSVolumeSource', { server: str(), path: str(), readOnly: bool }, ['server', 'path']),
    ephemeral: ref('EphemeralVolumeSource', { volumeClaimTemplate: any }),
  },
  ['name'],
);
const NodeSelectorRequirement = ref('NodeSelectorRequirement', { key: str(), operator: str(), values: list(str()) }, [
  'key',
  'operator',
]);
const NodeSelectorTerm = ref('NodeSelectorTerm', {
  matchExpressions: list(NodeSelectorRequirement),
  matchFields: list(NodeSelectorRequirement),
});
const PodAffinityTerm = ref(
  'PodAffinityTerm',
  {
    labelSelector: LabelSelector,
    namespaces: list(str()),
    topologyKey: str(),
    namespaceSelector: LabelSelector,
    matchLabelKeys: list(str()),
    mismatchLabelKeys: list(str()),
  },
  ['topologyKey'],
);
const WeightedPodAffinityTerm = ref('WeightedPodAffinityTerm', { weight: int(), podAffinityTerm: PodAffinityTerm }, [
  'weight',
  'podAffinityTerm',
]);
const PodAffinity = (n: string) =>
  ref(n, {
    requiredDuringSchedulingIgnoredDuringExecution: list(PodAffinityTerm),
    preferredDuringSchedulingIgnoredDuringExecution: list(WeightedPodAffinityTerm),
  });
export const Affinity = ref('Affinity', {
  nodeAffinity: ref('NodeAffinity', {
    requiredDuringSchedulingIgnoredDuringExecution: ref('NodeSelector', { nodeSelectorTerms: list(NodeSelectorTerm) }, [
      'nodeSelectorTerms',
    ]),
    preferredDuringSchedulingIgnoredDuringExecution: list(
      ref('PreferredSchedulingTerm', { weight: int(), preference: NodeSelectorTerm }, ['weight', 'preference']),
    ),
  }),
  podAffinity: PodAffinity('PodAffinity'),
  podAntiAffinity: PodAffinity('PodAntiAffinity'),
});
export const Toleration = ref('Toleration', {
  key: str(),
  operator: str({ enum: ['Exists', 'Equal'] }),
  value: str(),
  effect: str(),
  tolerationSeconds: int('int64'),
});
const PodDNSConfig = ref('PodDNSConfig', {
  nameservers: list(str()),
  searches: list(str()),
  options: list(ref('PodDNSConfigOption', { name: str(), value: str() })),
});
const PodSecurityContext = ref('PodSecurityContext', {
  seLinuxOptions: SELinuxOptions,
  runAsUser: int('int64'),
  runAsGroup: int('int64'),
  runAsNonRoot: bool,
  supplementalGroups: list(int('int64')),
  fsGroup: int('int64'),
  fsGroupChangePolicy: str(),
  sysctls: list(ref('Sysctl', { name: str(), value: str() })),
  seccompProfile: SeccompProfile,
});
export const PodSpec = ref(
  'PodSpec',
  {
    volumes: keyed(Volume, 'name'),
    initContainers: keyed(Container, 'name'),
    containers: keyed(Container, 'name'),
    ephemeralContainers: keyed(any, 'name'),
    restartPolicy: str({ enum: ['Always', 'OnFailure', 'Never'] }),
    terminationGracePeriodSeconds: int('int64'),
    activeDeadlineSeconds: int('int64'),
    dnsPolicy: str({ enum: ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'] }),
    nodeSelector: strMap(),
    serviceAccountName: str(),
    serviceAccount: str(),
    automountServiceAccountToken: bool,
    nodeName: str(),
    hostNetwork: bool,
    hostPID: bool,
    hostIPC: bool,
    shareProcessNamespace: bool,
    securityContext: PodSecurityContext,
    imagePullSecrets: keyed(ref('LocalObjectReference', { name: str() }), 'name'),
    hostname: str(),
    subdomain: str(),
    affinity: Affinity,
    schedulerName: str(),
    tolerations: list(Toleration),
    hostAliases: keyed(ref('HostAlias', { ip: str(), hostnames: list(str()) }, ['ip']), 'ip'),
    priorityClassName: str(),
    priority: int(),
    dnsConfig: PodDNSConfig,
    readinessGates: list(ref('PodReadinessGate', { conditionType: str() }, ['conditionType'])),
    runtimeClassName: str(),
    enableServiceLinks: bool,
    preemptionPolicy: str(),
    overhead: map(quantity),
    topologySpreadConstraints: keyed(
      ref(
        'TopologySpreadConstraint',
        {
          maxSkew: int(),
          topologyKey: str(),
          whenUnsatisfiable: str(),
          labelSelector: LabelSelector,
          minDomains: int(),
          nodeAffinityPolicy: str(),
          nodeTaintsPolicy: str(),
          matchLabelKeys: list(str()),
        },
        ['maxSkew', 'topologyKey', 'whenUnsatisfiable'],
      ),
      'topologyKey',
      'whenUnsatisfiable',
    ),
    setHostnameAsFQDN: bool,
    os: ref('PodOS', { name: str() }, ['name']),
    hostUsers: bool,
    schedulingGates: keyed(ref('PodSchedulingGate', { name: str() }, ['name']), 'name'),
    resourceClaims: keyed(any, 'name'),
    resources: ResourceRequirements,
  },
  ['containers'],
);

const ContainerStateDetail = {
  waiting: ref('ContainerStateWaiting', { reason: str(), message: str() }),
  running: ref('ContainerStateRunning', { startedAt: time }),
  terminated: ref(
    'ContainerStateTerminated',
    {
      exitCode: int(),
      signal: int(),
      reason: str(),
      message: str(),
      startedAt: time,
      finishedAt: time,
      containerID: str(),
    },
    ['exitCode'],
  ),
};
const ContainerState = ref('ContainerState', ContainerStateDetail);
const ContainerStatus = ref(
  'ContainerStatus',
  {
    name: str(),
    state: ContainerState,
    lastState: ContainerState,
    ready: bool,
    restartCount: int(),
    image: str(),
    imageID: str(),
    containerID: str(),
    started: bool,
    allocatedResources: map(quantity),
    resources: ResourceRequirements,
    volumeMounts: list(any),
    user: any,
    allocatedResourcesStatus: list(any),
    stopSignal: str(),
  },
  ['name', 'ready', 'restartCount', 'image', 'imageID'],
);
const PodCondition = ref(
  'PodCondition',
  {
    type: str(),
    observedGeneration: int('int64'),
    status: str(),
    lastProbeTime: time,
    lastTransitionTime: time,
    reason: str(),
    message: str(),
  },
  ['type', 'status'],
);
const PodIP = ref('PodIP', { ip: str() });
export const PodStatus = ref('PodStatus', {
  observedGeneration: int('int64'),
  phase: str({ enum: ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'] }),
  conditions: keyed(PodCondition, 'type'),
  message: str(),
  reason: str(),
  nominatedNodeName: str(),
  hostIP: str(),
  hostIPs: keyed(ref('HostIP', { ip: str() }), 'ip'),
  podIP: str(),
  podIPs: keyed(PodIP, 'ip'),
  startTime: time,
  initContainerStatuses: list(ContainerStatus),
  containerStatuses: list(ContainerStatus),
  qosClass: str(),
  ephemeralContainerStatuses: list(ContainerStatus),
  resize: str(),
  resourceClaimStatuses: list(any),
});
export const PodTemplateSpec = ref('PodTemplateSpec', { metadata: ObjectMeta, spec: PodSpec });
export const Pod = topLevel(P + 'Pod', { spec: PodSpec, status: PodStatus });

export const Namespace = topLevel(P + 'Namespace', {
  spec: ref('NamespaceSpec', { finalizers: list(str()) }),
  status: ref('NamespaceStatus', { phase: str({ enum: ['Active', 'Terminating'] }), conditions: list(any) }),
});

const ServicePort = ref(
  'ServicePort',
  {
    name: str(),
    protocol: str({ enum: ['TCP', 'UDP', 'SCTP'] }),
    appProtocol: str(),
    port: int(),
    targetPort: intOrStr,
    nodePort: int(),
  },
  ['port'],
);
const LoadBalancerIngress = ref('LoadBalancerIngress', {
  ip: str(),
  hostname: str(),
  ipMode: str(),
  ports: list(ref('PortStatus', { port: int(), protocol: str(), error: str() })),
});
export const LoadBalancerStatus = ref('LoadBalancerStatus', { ingress: list(LoadBalancerIngress) });
export const Service = topLevel(P + 'Service', {
  spec: ref('ServiceSpec', {
    ports: keyed(ServicePort, 'port', 'protocol'),
    selector: strMap(),
    clusterIP: str(),
    clusterIPs: list(str()),
    type: str({ enum: ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'] }),
    externalIPs: list(str()),
    sessionAffinity: str({ enum: ['None', 'ClientIP'] }),
    loadBalancerIP: str(),
    loadBalancerSourceRanges: list(str()),
    externalName: str(),
    externalTrafficPolicy: str({ enum: ['Cluster', 'Local'] }),
    healthCheckNodePort: int(),
    publishNotReadyAddresses: bool,
    sessionAffinityConfig: ref('SessionAffinityConfig', { clientIP: ref('ClientIPConfig', { timeoutSeconds: int() }) }),
    ipFamilies: list(str()),
    ipFamilyPolicy: str(),
    allocateLoadBalancerNodePorts: bool,
    loadBalancerClass: str(),
    internalTrafficPolicy: str({ enum: ['Cluster', 'Local'] }),
    trafficDistribution: str(),
  }),
  status: ref('ServiceStatus', { loadBalancer: LoadBalancerStatus, conditions: list(any) }),
});

const EndpointAddress = ref(
  'EndpointAddress',
  {
    ip: str(),
    hostname: str(),
    nodeName: str(),
    targetRef: ref('ObjectReference', {
      kind: str(),
      namespace: str(),
      name: str(),
      uid: str(),
      apiVersion: str(),
      resourceVersion: str(),
      fieldPath: str(),
    }),
  },
  ['ip'],
);
export const ObjectReference = ref('ObjectReference', {
  kind: str(),
  namespace: str(),
  name: str(),
  uid: str(),
  apiVersion: str(),
  resourceVersion: str(),
  fieldPath: str(),
});
export const Endpoints = topLevel(P + 'Endpoints', {
  subsets: list(
    ref('EndpointSubset', {
      addresses: list(EndpointAddress),
      notReadyAddresses: list(EndpointAddress),
      ports: list(ref('EndpointPort', { name: str(), port: int(), protocol: str(), appProtocol: str() }, ['port'])),
    }),
  ),
});

const Taint = ref('Taint', { key: str(), value: str(), effect: str(), timeAdded: time }, ['key', 'effect']);
const NodeCondition = ref(
  'NodeCondition',
  {
    type: str(),
    status: str(),
    lastHeartbeatTime: time,
    lastTransitionTime: time,
    reason: str(),
    message: str(),
  },
  ['type', 'status'],
);
export const Node = topLevel(P + 'Node', {
  spec: ref('NodeSpec', {
    podCIDR: str(),
    podCIDRs: set(str()),
    providerID: str(),
    unschedulable: bool,
    taints: list(Taint),
    configSource: any,
    externalID: str(),
  }),
  status: ref('NodeStatus', {
    capacity: map(quantity),
    allocatable: map(quantity),
    phase: str(),
    conditions: keyed(NodeCondition, 'type'),
    addresses: keyed(ref('NodeAddress', { type: str(), address: str() }, ['type', 'address']), 'type'),
    daemonEndpoints: ref('NodeDaemonEndpoints', { kubeletEndpoint: ref('DaemonEndpoint', { Port: int() }, ['Port']) }),
    nodeInfo: ref('NodeSystemInfo', {
      machineID: str(),
      systemUUID: str(),
      bootID: str(),
      kernelVersion: str(),
      osImage: str(),
      containerRuntimeVersion: str(),
      kubeletVersion: str(),
      kubeProxyVersion: str(),
      operatingSystem: str(),
      architecture: str(),
      swap: any,
    }),
    images: list(ref('ContainerImage', { names: list(str()), sizeBytes: int('int64') })),
    volumesInUse: list(str()),
    volumesAttached: list(any),
    config: any,
    runtimeHandlers: list(any),
    features: any,
  }),
});

export const ConfigMap = topLevel(P + 'ConfigMap', { immutable: bool, data: strMap(), binaryData: strMap() });
export const Secret = topLevel(P + 'Secret', { immutable: bool, data: strMap(), stringData: strMap(), type: str() });
export const ServiceAccount = topLevel(P + 'ServiceAccount', {
  secrets: keyed(ObjectReference, 'name'),
  imagePullSecrets: list(ref('LocalObjectReference', { name: str() })),
  automountServiceAccountToken: bool,
});
export const Event = topLevel(P + 'Event', {
  involvedObject: ObjectReference,
  reason: str(),
  message: str(),
  source: ref('EventSource', { component: str(), host: str() }),
  firstTimestamp: time,
  lastTimestamp: time,
  count: int(),
  type: str(),
  eventTime: time,
  series: any,
  action: str(),
  related: ObjectReference,
  reportingComponent: str(),
  reportingInstance: str(),
});
const PVSource = {
  hostPath: ref('HostPathVolumeSource', { path: str(), type: str() }, ['path']),
  local: ref('LocalVolumeSource', { path: str(), fsType: str() }, ['path']),
  nfs: ref('NFSVolumeSource', { server: str(), path: str(), readOnly: bool }, ['server', 'path']),
  csi: any,
};
export const PersistentVolume = topLevel(P + 'PersistentVolume', {
  spec: ref('PersistentVolumeSpec', {
    capacity: map(quantity),
    accessModes: list(str()),
    claimRef: ObjectReference,
    persistentVolumeReclaimPolicy: str({ enum: ['Retain', 'Delete', 'Recycle'] }),
    storageClassName: str(),
    mountOptions: list(str()),
    volumeMode: str(),
    nodeAffinity: ref('VolumeNodeAffinity', { required: any }),
    ...PVSource,
  }),
  status: ref('PersistentVolumeStatus', { phase: str(), message: str(), reason: str(), lastPhaseTransitionTime: time }),
});
export const PersistentVolumeClaimSpec = ref('PersistentVolumeClaimSpec', {
  accessModes: list(str()),
  selector: LabelSelector,
  resources: ref('VolumeResourceRequirements', { limits: map(quantity), requests: map(quantity) }),
  volumeName: str(),
  storageClassName: str(),
  volumeMode: str(),
  dataSource: any,
  dataSourceRef: any,
  volumeAttributesClassName: str(),
});
export const PersistentVolumeClaim = topLevel(P + 'PersistentVolumeClaim', {
  spec: PersistentVolumeClaimSpec,
  status: ref('PersistentVolumeClaimStatus', {
    phase: str(),
    accessModes: list(str()),
    capacity: map(quantity),
    conditions: list(any),
    allocatedResources: map(quantity),
    allocatedResourceStatuses: strMap(),
  }),
});
export const Binding = topLevel(P + 'Binding', { target: ObjectReference });
export const ReplicationController = topLevel(P + 'ReplicationController', {
  spec: ref('ReplicationControllerSpec', {
    replicas: int(),
    minReadySeconds: int(),
    selector: strMap(),
    template: PodTemplateSpec,
  }),
  status: ref('ReplicationControllerStatus', {
    replicas: int(),
    fullyLabeledReplicas: int(),
    readyReplicas: int(),
    availableReplicas: int(),
    observedGeneration: int('int64'),
    conditions: list(any),
  }),
});
export { num };
