// The strategy of kinds without rules of their own: status is written only through the status
// subresource (where the kind has one), nothing is allocated, and deletion waits only for
// metadata finalizers.
import type { KubeObject, LabelSelector } from '../../shared/kube/index.ts';
import { NOTHING_RESERVED, type Strategy } from './strategy.ts';

/** The fields every kind's object may have that the default strategy reads. */
type Common = KubeObject & { status?: unknown; spec?: { selector?: LabelSelector } };

export const defaultStrategy: Strategy = {
  prepareForCreate(o, res) {
    if (res.subresources.includes('status')) delete (o as Common).status;
  },
  prepareForUpdate(next, old, res) {
    if (res.subresources.includes('status')) (next as Common).status = (old as Common).status;
  },
  canonicalize() {},
  normalizeUpdate() {},
  allowCreateOnUpdate: false,
  reserve: async () => NOTHING_RESERVED,
  releaseDropped: async () => {},
  beforeDelete() {},
  deletionGrace: () => 0,
  awaitsFinalize: () => false,
  staysAfterUpdate: () => false,
  markDeleting() {},
  scaleSelector: (o) => (o as Common).spec?.selector,
};
