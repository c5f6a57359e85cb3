// A ReplicationController's rule: its selector is a plain label map, which its scale
// subresource reports as a label selector.
import type { KubeObject } from '../../shared/kube/index.ts';
import { defaultStrategy } from './default.ts';
import type { Strategy } from './strategy.ts';

type ReplicationController = KubeObject & { spec?: { selector?: Record<string, string> } };

export const replicationControllerStrategy: Strategy<ReplicationController> = {
  ...defaultStrategy,
  scaleSelector: (o) => ({ matchLabels: o.spec?.selector }),
};
