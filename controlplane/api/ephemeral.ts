// The pods/ephemeralcontainers subresource (kubectl debug): the only way to change
// spec.ephemeralContainers, and it changes nothing else. Ephemeral containers may be added, never
// changed or removed; their names are unique among all the pod's containers; they have no ports,
// probes, lifecycle hooks or resources; a target container must exist.
import type { Errs } from './status.ts';
import type { Obj } from '../shared/kube/object.ts';

const FORBIDDEN = ['ports', 'livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle'];

/** The pod after an update through the subresource: the old pod with the body's ephemeral containers. */
export function withEphemeralContainers(old: Obj, body: Obj): Obj {
  const next = structuredClone(old);
  next.spec = { ...next.spec, ephemeralContainers: structuredClone(body.spec?.ephemeralContainers ?? []) };
  if (!next.spec.ephemeralContainers.length) delete next.spec.ephemeralContainers;
  return next;
}

/** Checks the ephemeral containers of next against old (both defaulted). */
export function validateEphemeralContainers(next: Obj, old: Obj, errs: Errs) {
  const list: Obj[] = next.spec?.ephemeralContainers ?? [];
  const before: Obj[] = old.spec?.ephemeralContainers ?? [];
  const regular = [...(next.spec?.containers ?? []), ...(next.spec?.initContainers ?? [])].map((c: Obj) => c.name);
  const seen = new Set<string>(regular);
  for (const [i, c] of list.entries()) {
    const at = `spec.ephemeralContainers[${i}]`;
    if (!c || typeof c !== 'object') {
      errs.add(at, 'FieldValueInvalid', 'Invalid value: must be an object');
      continue;
    }
    if (!c.name) errs.required(`${at}.name`);
    else if (seen.has(c.name)) errs.add(`${at}.name`, 'FieldValueDuplicate', `Duplicate value: "${c.name}"`);
    else seen.add(c.name);
    if (!c.image) errs.required(`${at}.image`);
    for (const k of FORBIDDEN)
      if (c[k] !== undefined && !(Array.isArray(c[k]) && !c[k].length))
        errs.add(`${at}.${k}`, 'FieldValueForbidden', 'Forbidden: cannot be set for an Ephemeral Container');
    const res = c.resources ?? {};
    if (Object.keys(res.limits ?? {}).length || Object.keys(res.requests ?? {}).length)
      errs.add(`${at}.resources`, 'FieldValueForbidden', 'Forbidden: cannot be set for an Ephemeral Container');
    if (c.targetContainerName && !regular.includes(c.targetContainerName))
      errs.list.push({
        field: `${at}.targetContainerName`,
        reason: 'FieldValueNotFound',
        message: `Not found: "${c.targetContainerName}"`,
      });
  }
  for (const b of before) {
    const now = list.find((c) => c?.name === b.name);
    if (!now)
      errs.add(
        'spec.ephemeralContainers',
        'FieldValueForbidden',
        `Forbidden: existing ephemeral containers "${b.name}" may not be removed`,
      );
    else if (JSON.stringify(now) !== JSON.stringify(b))
      errs.add(
        'spec.ephemeralContainers',
        'FieldValueForbidden',
        `Forbidden: existing ephemeral containers "${b.name}" may not be changed`,
      );
  }
}
