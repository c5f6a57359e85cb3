// A Namespace's rules: the built-in namespaces may not be deleted; a deleted namespace turns
// Terminating and stays until the namespace controller has emptied it and removed spec.finalizers
// (namespaces/NAME/finalize); it keeps the status it is created with.
import type { Namespace } from '../../shared/kube/index.ts';
import { forbidden } from '../status.ts';
import { defaultStrategy } from './default.ts';
import type { Strategy } from './strategy.ts';

const PROTECTED = ['default', 'kube-system', 'kube-public'];

const awaitsFinalize = (o: Namespace) => (o.spec?.finalizers ?? []).length > 0;

export const namespaceStrategy: Strategy<Namespace> = {
  ...defaultStrategy,
  prepareForCreate() {},
  beforeDelete(o) {
    const name = o.metadata.name ?? '';
    if (PROTECTED.includes(name))
      throw forbidden(`namespaces "${name}" is forbidden: this namespace may not be deleted`);
  },
  awaitsFinalize,
  staysAfterUpdate: (next) => awaitsFinalize(next),
  markDeleting(o) {
    o.status = { ...(o.status ?? {}), phase: 'Terminating' };
  },
};
