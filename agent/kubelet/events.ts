// Events as upstream's kubelet writes them (core/v1 Event, source component "kubelet" and the
// node's name). One event per (object, fieldPath, type, reason, message): a repeat raises its
// count and lastTimestamp instead of adding another, so `kubectl describe` shows "(x5 over 2m)".
// Writes are coalesced per event and never block the caller; a failed write is logged, not thrown.
import type { ApiClient } from '../api.ts';
import { ApiStatusError } from '../api.ts';

export interface InvolvedObject {
  kind: string;
  apiVersion: string;
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion?: string;
  fieldPath?: string;
}

export type EventType = 'Normal' | 'Warning';

interface Series {
  ns: string;
  name: string;
  involved: InvolvedObject;
  type: EventType;
  reason: string;
  message: string;
  first: string;
  last: string;
  count: number;
  /** The count the API has. */
  written: number;
  created: boolean;
  timer: NodeJS.Timeout | null;
  writing: Promise<void>;
}

/** How long repeats are gathered before one write (keeps a crash loop from writing every second). */
const COALESCE_MS = 300;
/** Series remembered for deduplication; the oldest are forgotten first. */
const MAX_SERIES = 4096;

const nowIso = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/** The deduplication key: upstream's (source, involved object with fieldPath, type, reason, message). */
export function eventKey(o: InvolvedObject, type: EventType, reason: string, message: string): string {
  return JSON.stringify([
    o.kind,
    o.namespace ?? '',
    o.name,
    o.uid,
    o.apiVersion,
    o.fieldPath ?? '',
    type,
    reason,
    message,
  ]);
}

export class EventRecorder {
  private series = new Map<string, Series>();
  private api: ApiClient;
  private host: string;
  private log: (s: string) => void;
  private seq = 0;

  constructor(api: ApiClient, host: string, log: (s: string) => void) {
    this.api = api;
    this.host = host;
    this.log = log;
  }

  record(involved: InvolvedObject, type: EventType, reason: string, message: string) {
    const key = eventKey(involved, type, reason, message);
    const now = nowIso();
    let s = this.series.get(key);
    if (s) {
      this.series.delete(key); // re-inserted below: the Map's order is the recency order
      s.count++;
      s.last = now;
    } else {
      // Upstream's naming: the object's name and the time in nanoseconds, in hex.
      const nanos = BigInt(Date.now()) * 1_000_000n + BigInt(this.seq++ % 1_000_000);
      s = {
        ns: involved.namespace || 'default',
        name: `${involved.name}.${nanos.toString(16)}`,
        involved,
        type,
        reason,
        message,
        first: now,
        last: now,
        count: 1,
        written: 0,
        created: false,
        timer: null,
        writing: Promise.resolve(),
      };
    }
    this.series.set(key, s);
    if (this.series.size > MAX_SERIES) {
      const oldest = this.series.keys().next().value!;
      this.series.delete(oldest);
    }
    if (!s.timer) {
      const series = s;
      s.timer = setTimeout(() => {
        series.timer = null;
        series.writing = series.writing.then(() => this.write(series));
      }, COALESCE_MS);
    }
  }

  /** Writes a series' current count: a create the first time, then merge patches. */
  private async write(s: Series) {
    if (s.written === s.count) return;
    const count = s.count;
    const path = `/api/v1/namespaces/${s.ns}/events`;
    try {
      if (s.created) {
        try {
          await this.api.mergePatch(`${path}/${s.name}`, { count, lastTimestamp: s.last });
          s.written = count;
          return;
        } catch (e) {
          // Gone (expired or deleted): start the series again under the same name.
          if (!(e instanceof ApiStatusError && e.code === 404)) throw e;
        }
      }
      await this.api.create(path, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: s.name, namespace: s.ns },
        involvedObject: s.involved,
        reason: s.reason,
        message: s.message,
        source: { component: 'kubelet', host: this.host },
        firstTimestamp: s.first,
        lastTimestamp: s.last,
        count,
        type: s.type,
        eventTime: null,
        reportingComponent: 'kubelet',
        reportingInstance: this.host,
      });
      s.created = true;
      s.written = count;
    } catch (e) {
      this.log(`event ${s.reason} for ${s.involved.kind.toLowerCase()}/${s.involved.name}: ${(e as Error).message}`);
    }
  }
}

// biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
type PodLike = Record<string, any>;

/** The involved object for a pod, or for one of its containers (fieldPath as upstream writes it). */
export function podRef(pod: PodLike, container?: string): InvolvedObject {
  const ref: InvolvedObject = {
    kind: 'Pod',
    apiVersion: 'v1',
    namespace: pod.metadata.namespace,
    name: pod.metadata.name,
    uid: pod.metadata.uid,
    resourceVersion: pod.metadata.resourceVersion,
  };
  if (container === undefined) return ref;
  // biome-ignore lint/suspicious/noExplicitAny: untyped wire JSON, not yet converted to the typed model
  const has = (list: string) => (pod.spec?.[list] ?? []).some((c: any) => c.name === container);
  const list = has('initContainers')
    ? 'initContainers'
    : has('ephemeralContainers')
      ? 'ephemeralContainers'
      : 'containers';
  return { ...ref, fieldPath: `spec.${list}{${container}}` };
}

/** The involved object of a Node event (upstream uses the node's name as its uid here). */
export function nodeRef(name: string): InvolvedObject {
  return { kind: 'Node', apiVersion: 'v1', name, uid: name };
}
