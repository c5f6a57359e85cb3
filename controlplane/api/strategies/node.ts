// A Node's rule: it keeps the status it is registered with (its agent creates it with its
// addresses, capacity and conditions).
import type { Node } from '../../shared/kube/index.ts';
import { defaultStrategy } from './default.ts';
import type { Strategy } from './strategy.ts';

export const nodeStrategy: Strategy<Node> = {
  ...defaultStrategy,
  prepareForCreate() {},
};
