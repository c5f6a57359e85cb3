// A resource's strategy: what the object layer (registry.ts) asks of a kind at each step of a
// write, as upstream's registry strategies do. The registry does what every kind shares (names,
// uids, resourceVersion, generation, defaulting, validation, finalizers); a kind with rules of
// its own (a Service's addresses and ports, a Pod's graceful deletion, a Namespace's finalize
// step, a Job's generated selector) says so here, in one file per kind.
import type { ServiceAllocator } from '../../allocator/service-allocator.ts';
import type { KubeObject, LabelSelector } from '../../shared/kube/index.ts';
import type { DeleteOpts } from '../registry.ts';
import type { Resource } from '../resources.ts';

/** The cluster-wide allocators a strategy may draw from (the parts of them it uses). */
export interface Allocators {
  service: Pick<ServiceAllocator, 'allocateIP' | 'allocateNodePort' | 'releaseIP' | 'releaseNodePort'>;
}

/** What a write reserved before it was stored, given back if the write fails. */
export interface Reservation {
  revert(): Promise<void>;
}

export const NOTHING_RESERVED: Reservation = { revert: async () => {} };

export interface Strategy<T = KubeObject> {
  /** On create, before defaulting: clears what a client may not set. */
  prepareForCreate(o: T, res: Resource): void;
  /** On an update of the object itself (not a subresource): keeps what the client may not change. */
  prepareForUpdate(next: T, old: T, res: Resource): void;
  /** After defaulting, on create and on every update: fills what the server derives. */
  canonicalize(o: T): void;
  /** After defaulting, on updates other than of the status: drops fields the new object no longer uses. */
  normalizeUpdate(next: T, old: T): void;
  /** Whether a PUT of an object that does not exist creates it. */
  allowCreateOnUpdate: boolean;
  /** Before a write is stored (not on dry runs): takes what the object needs from the allocators. */
  reserve(o: T, old: T | null, alloc: Allocators): Promise<Reservation>;
  /** After an update or the final delete: gives back what `old` held and `next` no longer does. */
  releaseDropped(next: T | null, old: T, alloc: Allocators): Promise<void>;
  /** Before a delete: refuses objects that may not be deleted. */
  beforeDelete(o: T): void;
  /** Seconds a deleted object stays for whoever must stop it first (0: no grace). */
  deletionGrace(o: T, opts: DeleteOpts): number;
  /** Whether a deleted object waits for a finalize step besides its metadata finalizers. */
  awaitsFinalize(o: T): boolean;
  /** Whether a deleted object, its metadata finalizers gone, must still stay after this update. */
  staysAfterUpdate(next: T, old: T): boolean;
  /** Marks an object as being deleted beyond its deletionTimestamp. */
  markDeleting(o: T): void;
  /** The label selector of the scale subresource. */
  scaleSelector(o: T): LabelSelector | undefined;
}
