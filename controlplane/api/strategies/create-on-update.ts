// Kinds whose clients write them with PUT whether they exist or not (endpoints controllers,
// leader election, event recorders): a PUT of a missing object creates it.
import { defaultStrategy } from './default.ts';
import type { Strategy } from './strategy.ts';

export const createOnUpdateStrategy: Strategy = {
  ...defaultStrategy,
  allowCreateOnUpdate: true,
};
