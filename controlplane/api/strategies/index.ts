// The strategy of each kind (strategy.ts says what one is); kinds not named here use the default.
import { createOnUpdateStrategy } from './create-on-update.ts';
import { defaultStrategy } from './default.ts';
import { jobStrategy } from './job.ts';
import { namespaceStrategy } from './namespace.ts';
import { nodeStrategy } from './node.ts';
import { podStrategy } from './pod.ts';
import { replicationControllerStrategy } from './replicationcontroller.ts';
import { serviceStrategy } from './service.ts';
import type { Strategy } from './strategy.ts';

const STRATEGIES: Record<string, Strategy> = {
  Service: serviceStrategy,
  Pod: podStrategy,
  Namespace: namespaceStrategy,
  Node: nodeStrategy,
  Job: jobStrategy,
  ReplicationController: replicationControllerStrategy,
  Endpoints: createOnUpdateStrategy,
  EndpointSlice: createOnUpdateStrategy,
  Lease: createOnUpdateStrategy,
  Event: createOnUpdateStrategy,
};

export function strategyFor(kind: string): Strategy {
  return STRATEGIES[kind] ?? defaultStrategy;
}

export type { Allocators, Reservation, Strategy } from './strategy.ts';
