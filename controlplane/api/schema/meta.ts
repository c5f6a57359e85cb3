// Types shared by every kind: ObjectMeta, LabelSelector, ListMeta and friends (meta/v1).
import { any, bool, int, keyed, list, map, obj, set, str, strMap, time, type Schema } from './dsl.ts';

export const OwnerReference = obj(
  'io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference',
  {
    apiVersion: str(),
    kind: str(),
    name: str(),
    uid: str(),
    controller: bool,
    blockOwnerDeletion: bool,
  },
  ['apiVersion', 'kind', 'name', 'uid'],
);

export const ManagedFieldsEntry = obj('io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry', {
  manager: str(),
  operation: str(),
  apiVersion: str(),
  time,
  fieldsType: str(),
  fieldsV1: any,
  subresource: str(),
});

export const ObjectMeta = obj('io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta', {
  name: str(),
  generateName: str(),
  namespace: str(),
  selfLink: str(),
  uid: str(),
  resourceVersion: str(),
  generation: int('int64'),
  creationTimestamp: time,
  deletionTimestamp: time,
  deletionGracePeriodSeconds: int('int64'),
  labels: strMap(),
  annotations: strMap(),
  ownerReferences: keyed(OwnerReference, 'uid'),
  finalizers: set(str()),
  managedFields: list(ManagedFieldsEntry),
});

export const ListMeta = obj('io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta', {
  selfLink: str(),
  resourceVersion: str(),
  continue: str(),
  remainingItemCount: int('int64'),
});

export const LabelSelectorRequirement = obj(
  'io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement',
  {
    key: str(),
    operator: str(),
    values: list(str()),
  },
  ['key', 'operator'],
);

export const LabelSelector = obj('io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector', {
  matchLabels: strMap(),
  matchExpressions: list(LabelSelectorRequirement),
});

export const Condition = obj(
  'io.k8s.apimachinery.pkg.apis.meta.v1.Condition',
  {
    type: str(),
    status: str(),
    observedGeneration: int('int64'),
    lastTransitionTime: time,
    reason: str(),
    message: str(),
  },
  ['type', 'status'],
);

/** apiVersion/kind/metadata wrapper every top-level kind uses. */
export function topLevel(name: string, props: Record<string, Schema>): Schema {
  return obj(name, { apiVersion: str(), kind: str(), metadata: ObjectMeta, ...props });
}

export const anyMap: Schema = map(any);
