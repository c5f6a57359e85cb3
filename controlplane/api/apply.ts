// Server-side apply: merges an applied configuration into the live object, tracks which manager
// owns which field in metadata.managedFields, and reports conflicts with other managers.
import { child, fillKeyDefaults, type Schema } from './schema/dsl.ts';
import { fieldsOf, fromFieldsV1, pathString, removeAt, toFieldsV1, valueAt, type FieldSet } from './fieldset.ts';
import type { Obj } from '../shared/kube/object.ts';
import { own, setOwn } from './own.ts';

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface ManagedEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: Obj;
  subresource?: string;
}

export interface Conflict {
  manager: string;
  field: string;
}

/** Merges `config` into `live` the way apply does: associative lists by key, sets by value. */
export function mergeApplied(live: unknown, config: unknown, s: Schema | undefined): unknown {
  if (Array.isArray(config)) {
    if (s?.t === 'array' && s.listType === 'map' && s.keys && Array.isArray(live)) {
      const keys = s.keys;
      const same = (a: Obj, b: Obj) => keys.every((k) => JSON.stringify(a[k]) === JSON.stringify(b[k]));
      const out = structuredClone(live) as unknown[];
      for (const item of config) {
        const i = out.findIndex((x) => isObj(x) && isObj(item) && same(x, item));
        if (i >= 0) out[i] = mergeApplied(out[i], item, s.items);
        else out.push(structuredClone(item));
      }
      return out;
    }
    if (s?.t === 'array' && s.listType === 'set' && Array.isArray(live)) {
      const out = structuredClone(live) as unknown[];
      for (const x of config) if (!out.some((y) => JSON.stringify(y) === JSON.stringify(x))) out.push(x);
      return out;
    }
    return structuredClone(config);
  }
  if (isObj(config) && isObj(live) && s?.t !== 'any') {
    const out = structuredClone(live);
    for (const [k, v] of Object.entries(config)) {
      if (v === null) {
        delete out[k];
        continue;
      }
      setOwn(out, k, mergeApplied(own(out, k), v, child(s, k)));
    }
    return out;
  }
  return structuredClone(config);
}

export function readManaged(obj: Obj): ManagedEntry[] {
  return Array.isArray(obj.metadata?.managedFields) ? obj.metadata.managedFields : [];
}

function writeManaged(entries: { e: Omit<ManagedEntry, 'fieldsV1'>; set: FieldSet }[]): ManagedEntry[] {
  return entries.filter((x) => x.set.size > 0).map(({ e, set }) => ({ ...e, fieldsV1: toFieldsV1(set) }));
}

const equal = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Applies `config` for `manager`. Returns the merged object with managedFields set, or the
 * conflicts (when not forced).
 */
export function serverSideApply(
  live: Obj,
  config: Obj,
  schema: Schema,
  opts: {
    manager: string;
    apiVersion: string;
    force: boolean;
    subresource?: string;
    now: string;
  },
): { obj: Obj; conflicts: Conflict[] } {
  const skipStatus = opts.subresource !== 'status';
  const cfg = structuredClone(config);
  if (skipStatus) delete cfg.status;
  fillKeyDefaults(cfg, schema);
  const applied = fieldsOf(cfg, schema);
  const entries = readManaged(live).map((e) => ({
    e: { ...e, fieldsV1: undefined } as Omit<ManagedEntry, 'fieldsV1'>,
    set: fromFieldsV1(e.fieldsV1),
  }));
  const mine = entries.find(
    (x) =>
      x.e.manager === opts.manager && x.e.operation === 'Apply' && (x.e.subresource ?? '') === (opts.subresource ?? ''),
  );
  const conflicts: Conflict[] = [];
  for (const other of entries) {
    if (other === mine) continue;
    for (const f of applied) {
      if (!other.set.has(f)) continue;
      const path = JSON.parse(f) as string[];
      if (!equal(valueAt(live, path), valueAt(cfg, path)))
        conflicts.push({ manager: other.e.manager, field: pathString(path) });
    }
  }
  if (conflicts.length && !opts.force) return { obj: live, conflicts };

  let obj = structuredClone(live);
  // Fields this manager applied before and dropped now are removed, unless someone else owns them.
  for (const f of mine?.set ?? []) {
    if (applied.has(f)) continue;
    if (entries.some((x) => x !== mine && x.set.has(f))) continue;
    removeAt(obj, JSON.parse(f));
  }
  obj = mergeApplied(obj, cfg, schema) as Obj;
  if (opts.force)
    for (const other of entries)
      if (other !== mine)
        for (const f of applied) {
          const path = JSON.parse(f) as string[];
          if (other.set.has(f) && !equal(valueAt(live, path), valueAt(cfg, path))) other.set.delete(f);
        }
  const e = {
    manager: opts.manager,
    operation: 'Apply' as const,
    apiVersion: opts.apiVersion,
    time: opts.now,
    fieldsType: 'FieldsV1' as const,
    ...(opts.subresource ? { subresource: opts.subresource } : {}),
  };
  const rest = entries.filter((x) => x !== mine);
  obj.metadata ??= {};
  obj.metadata.managedFields = writeManaged([...rest, { e, set: applied }]);
  return { obj, conflicts: [] };
}

/** Records an ordinary create/update/patch by `manager`: it takes the fields it changed. */
export function trackUpdate(
  old: Obj | null,
  next: Obj,
  schema: Schema,
  opts: {
    manager: string;
    apiVersion: string;
    subresource?: string;
    now: string;
  },
): void {
  const skipStatus = opts.subresource !== 'status';
  const before = old ? fieldsOf(old, schema, { skipStatus }) : new Set<string>();
  const after = fieldsOf(next, schema, { skipStatus });
  const changed = new Set<string>();
  for (const f of after) {
    const p = JSON.parse(f) as string[];
    if (!before.has(f) || !equal(valueAt(old, p), valueAt(next, p))) changed.add(f);
  }
  const removed = [...before].filter((f) => !after.has(f));
  // A client that writes managedFields itself (kubectl's client-side-apply upgrade) sets the base.
  const explicit =
    old &&
    next.metadata?.managedFields !== undefined &&
    JSON.stringify(next.metadata.managedFields) !== JSON.stringify(old.metadata?.managedFields);
  const entries = readManaged(explicit || !old ? next : old).map((e) => ({
    e: { ...e, fieldsV1: undefined } as Omit<ManagedEntry, 'fieldsV1'>,
    set: fromFieldsV1(e.fieldsV1),
  }));
  for (const x of entries) {
    for (const f of changed) x.set.delete(f);
    for (const f of removed) x.set.delete(f);
  }
  if (changed.size) {
    let mine = entries.find(
      (x) =>
        x.e.manager === opts.manager &&
        x.e.operation === 'Update' &&
        (x.e.subresource ?? '') === (opts.subresource ?? ''),
    );
    if (!mine) {
      mine = {
        e: {
          manager: opts.manager,
          operation: 'Update',
          apiVersion: opts.apiVersion,
          time: opts.now,
          fieldsType: 'FieldsV1',
          ...(opts.subresource ? { subresource: opts.subresource } : {}),
        },
        set: new Set(),
      };
      entries.push(mine);
    }
    mine.e.time = opts.now;
    for (const f of changed) mine.set.add(f);
  }
  next.metadata ??= {};
  const written = writeManaged(entries);
  if (written.length) next.metadata.managedFields = written;
  else delete next.metadata.managedFields;
}
