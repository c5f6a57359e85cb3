// Renders this node's Node object and status from facts the agent gathers: a pure function,
// so what the agent reports is tested with plain inputs.
import type { Condition, Node, NodeCondition, NodeStatus } from '../controlplane/shared/kube/index.ts';

export interface NodeFacts {
  name: string;
  ip: string;
  hostname: string;
  cpus: number;
  memoryBytes: number;
  maxPods: number;
  podCidr?: string;
  kernelVersion: string;
  osImage: string;
  machineID: string;
  bootID: string;
  runtimeVersion: string; // containerd://1.6.20
  runtimeReady: boolean;
  networkReady: boolean;
  runtimeMessage: string;
}

export const AGENT_VERSION = 'v1.32.0-skiff';
/** Memory kept back for the system when computing allocatable. */
const RESERVED_MEMORY = 256 * 1024 * 1024;

/**
 * The node's conditions now. A transition time moves only when a status changes; `previous` may
 * be what the API holds (conditions written by another party may lack times).
 */
export function renderConditions(f: NodeFacts, previous: Condition[], now: string): NodeCondition[] {
  const ready = f.runtimeReady && f.networkReady;
  const want: Omit<NodeCondition, 'lastHeartbeatTime' | 'lastTransitionTime'>[] = [
    {
      type: 'MemoryPressure',
      status: 'False',
      reason: 'KubeletHasSufficientMemory',
      message: 'agent has sufficient memory available',
    },
    {
      type: 'DiskPressure',
      status: 'False',
      reason: 'KubeletHasNoDiskPressure',
      message: 'agent has no disk pressure',
    },
    {
      type: 'PIDPressure',
      status: 'False',
      reason: 'KubeletHasSufficientPID',
      message: 'agent has sufficient PID available',
    },
    ready
      ? { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'skiff agent is posting ready status' }
      : {
          type: 'Ready',
          status: 'False',
          reason: 'KubeletNotReady',
          message: f.runtimeMessage || 'container runtime is not ready',
        },
  ];
  return want.map((c) => {
    const prev = previous.find((p) => p.type === c.type);
    const changed = !prev || prev.status !== c.status;
    return { ...c, lastHeartbeatTime: now, lastTransitionTime: (!changed && prev.lastTransitionTime) || now };
  });
}

/** The Node this agent registers, with its status; `status` is what each report sends. */
export function renderNode(f: NodeFacts, conditions: NodeCondition[]): Node & { status: NodeStatus } {
  const mem = Math.floor(f.memoryBytes / 1024);
  const alloc = Math.max(0, Math.floor((f.memoryBytes - RESERVED_MEMORY) / 1024));
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: f.name,
      labels: {
        'kubernetes.io/hostname': f.name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/os': 'linux',
        'beta.kubernetes.io/arch': 'amd64',
      },
    },
    spec: f.podCidr ? { podCIDR: f.podCidr, podCIDRs: [f.podCidr] } : {},
    status: {
      capacity: { cpu: String(f.cpus), memory: `${mem}Ki`, pods: String(f.maxPods), 'ephemeral-storage': '0' },
      allocatable: { cpu: String(f.cpus), memory: `${alloc}Ki`, pods: String(f.maxPods), 'ephemeral-storage': '0' },
      conditions,
      addresses: [
        { type: 'InternalIP', address: f.ip },
        { type: 'Hostname', address: f.hostname },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: f.machineID,
        systemUUID: f.machineID,
        bootID: f.bootID,
        kernelVersion: f.kernelVersion,
        osImage: f.osImage,
        containerRuntimeVersion: f.runtimeVersion,
        kubeletVersion: AGENT_VERSION,
        kubeProxyVersion: AGENT_VERSION,
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
    },
  };
}
