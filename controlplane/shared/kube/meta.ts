// Object metadata and the envelope types of the Kubernetes JSON wire format (meta/v1), as Skiff
// reads and writes them. Written for Skiff from the public API reference: every field optional
// where the API lets a client leave it out, timestamps as the RFC 3339 strings that travel.

/** RFC 3339 time as it appears on the wire, e.g. "2026-11-30T17:21:20Z". */
export type Time = string;
/** A resource quantity ("100m", "64Mi") or a plain number. */
export type Quantity = string | number;
/** A port or count given either as a number or as a name/percentage. */
export type IntOrString = number | string;

export interface TypeMeta {
  apiVersion?: string;
  kind?: string;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ManagedFieldsEntry {
  manager?: string;
  operation?: 'Apply' | 'Update';
  apiVersion?: string;
  time?: Time;
  fieldsType?: string;
  fieldsV1?: Record<string, unknown>;
  subresource?: string;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: Time;
  deletionTimestamp?: Time;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  managedFields?: ManagedFieldsEntry[];
}

export interface ListMeta {
  resourceVersion?: string;
  continue?: string;
  remainingItemCount?: number;
}

/** Every top-level object: TypeMeta plus ObjectMeta. */
export interface KubeObject extends TypeMeta {
  metadata: ObjectMeta;
}

/** Metadata the API server always sets on an object it stores. */
export interface StoredMeta extends ObjectMeta {
  name: string;
  uid: string;
  resourceVersion: string;
  creationTimestamp: Time;
}

/** An object as read back from the API server (the store, a watch, the push channel). */
export type Stored<T extends KubeObject> = T & { metadata: StoredMeta };

export interface List<T extends KubeObject = KubeObject> extends TypeMeta {
  metadata: ListMeta;
  items: T[];
}

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

/** The condition shape shared by most kinds' status (Pod and Node add their own fields). */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: Time;
  lastHeartbeatTime?: Time;
  lastProbeTime?: Time | null;
  lastUpdateTime?: Time;
  observedGeneration?: number;
}

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** The API's error (and some success) answer. */
export interface Status extends TypeMeta {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: ListMeta;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** One event of a watch stream: an object of the kind (a BOOKMARK's carries only metadata), or a Status. */
export type WatchEvent<T extends KubeObject = KubeObject> =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK'; object: T }
  | { type: 'ERROR'; object: Status };
