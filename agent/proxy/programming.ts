// Network programming latency of one sync: for each EndpointSlice whose trigger time
// (`endpoints.kubernetes.io/last-change-trigger-time`) this node has not seen yet, the time from
// that change to now, when its rules are applied. Each trigger time counts once per slice.
import type { EndpointSlice } from '../../controlplane/shared/kube/index.ts';

/** Set by the EndpointSlice controller: when the change that led to this slice happened. */
export const TRIGGER_TIME = 'endpoints.kubernetes.io/last-change-trigger-time';

export interface Programmed {
  slice: string;
  trigger: string;
  ms: number;
}

/**
 * The latencies the slices' trigger times give at `now`, remembering them in `seen` (slice key →
 * trigger time). With `record` false (the agent's first sync) they are only remembered: a change
 * that predates the agent says nothing about how fast it programs rules.
 */
export function programmed(slices: EndpointSlice[], seen: Map<string, string>, now: number, record: boolean) {
  const out: Programmed[] = [];
  for (const s of slices) {
    const trigger = s.metadata.annotations?.[TRIGGER_TIME];
    const slice = `${s.metadata.namespace}/${s.metadata.name}`;
    if (!trigger || seen.get(slice) === trigger) continue;
    seen.set(slice, trigger);
    const ms = now - Date.parse(trigger);
    if (record && Number.isFinite(ms) && ms >= 0) out.push({ slice, trigger, ms });
  }
  return out;
}
