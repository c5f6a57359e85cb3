// Label selectors, matched one way everywhere: the API's list filters, the scheduler, the
// workload controllers, validation and EndpointSlices. Keys are looked up as own properties only,
// so a label named "constructor" or "__proto__" is an ordinary label.
import type { LabelSelector } from './kube/index.ts';

/** One requirement of a selector (the query-string form and LabelSelector objects both reduce to these). */
export type Requirement =
  | { key: string; op: '=' | '!='; value: string }
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | '!exists' };

/** True when the labels meet every requirement (no requirements: everything matches). */
export function matchRequirements(reqs: Requirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.hasOwn(l, r.key);
    switch (r.op) {
      case '=':
        return has && l[r.key] === r.value;
      case '!=':
        return !has || l[r.key] !== r.value;
      case 'in':
        return has && r.values.includes(l[r.key]);
      case 'notin':
        return !has || !r.values.includes(l[r.key]);
      case 'exists':
        return has;
      case '!exists':
        return !has;
      default:
        return false;
    }
  });
}

const OPS = { In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!exists' } as const;

/** The requirements a LabelSelector object stands for; an unknown operator matches nothing. */
export function requirementsOf(sel: LabelSelector): Requirement[] {
  const reqs: Requirement[] = Object.entries(sel.matchLabels ?? {}).map(([key, value]) => ({ key, op: '=', value }));
  for (const e of sel.matchExpressions ?? []) {
    const op = Object.hasOwn(OPS, e.operator) ? OPS[e.operator] : undefined;
    if (op === 'in' || op === 'notin') reqs.push({ key: e.key, op, values: e.values ?? [] });
    else if (op) reqs.push({ key: e.key, op });
    else reqs.push({ key: e.key, op: 'in', values: [] }); // never true
  }
  return reqs;
}

/** A LabelSelector object against labels. A missing selector selects nothing; an empty one everything. */
export function matchesLabelSelector(sel: LabelSelector | undefined, labels: Record<string, string> | undefined) {
  return sel ? matchRequirements(requirementsOf(sel), labels) : false;
}

/** A map selector (a Service's or ReplicationController's): every pair must be present. */
export function matchesSelectorMap(sel: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return matchRequirements(requirementsOf({ matchLabels: sel }), labels);
}

/** A LabelSelector as the string form `kubectl` prints and Scale.status.selector carries. */
export function formatLabelSelector(sel: LabelSelector | undefined): string {
  const parts = Object.entries(sel?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const r of sel?.matchExpressions ?? []) {
    if (r.operator === 'Exists') parts.push(r.key);
    else if (r.operator === 'DoesNotExist') parts.push(`!${r.key}`);
    else parts.push(`${r.key} ${String(r.operator).toLowerCase()} (${(r.values ?? []).join(',')})`);
  }
  return parts.join(',');
}
