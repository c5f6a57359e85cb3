// Validation ratcheting on update: an object stored before a rule existed may hold a value the
// rule now refuses, and a write that leaves that value alone (a controller's status update, a new
// label) must not fail on it. A cause is let pass only when the stored object has the very same
// cause and the value it names is untouched; under `spec`, where rules compare fields with each
// other (a selector with its template's labels), the whole spec must be untouched.
import { isDeepStrictEqual } from 'node:util';
import type { Cause } from './status.ts';
import type { Obj } from '../shared/kube/object.ts';

// One step of a field path: `.name`, `[3]`, `['key']`, `[key]` (a Secret's data keys hold dots).
const STEP = /\.?([^.[\]']+)|\[(\d+)\]|\['([^']*)'\]|\[([^\]']+)\]/y;

/** The steps of a cause's field path, or null when it is not one this parser reads whole. */
export function fieldSteps(path: string): (string | number)[] | null {
  const steps: (string | number)[] = [];
  STEP.lastIndex = 0;
  while (STEP.lastIndex < path.length) {
    const at = STEP.lastIndex;
    const m = STEP.exec(path);
    if (!m || (at === 0 && path.startsWith('.'))) return null;
    steps.push(m[2] !== undefined ? Number(m[2]) : (m[1] ?? m[3] ?? m[4]));
  }
  return steps.length ? steps : null;
}

function valueAt(o: unknown, steps: (string | number)[]): unknown {
  let v = o;
  for (const s of steps) {
    if (typeof v !== 'object' || v === null || !Object.hasOwn(v, s)) return undefined;
    v = (v as Record<string | number, unknown>)[s];
  }
  return v;
}

const causeKey = (c: Cause) => `${c.field}\0${c.reason}\0${c.message}`;

/** The causes of `next` an update is refused for, given the stored object `old` and its causes. Pure. */
export function ratchet(causes: Cause[], oldCauses: Cause[], old: Obj, next: Obj): Cause[] {
  const had = new Set(oldCauses.map(causeKey));
  return causes.filter((c) => {
    if (!had.has(causeKey(c))) return true;
    const steps = fieldSteps(c.field ?? '');
    if (!steps) return true;
    if (steps[0] === 'spec' && !isDeepStrictEqual(old.spec, next.spec)) return true;
    return !isDeepStrictEqual(valueAt(old, steps), valueAt(next, steps));
  });
}
