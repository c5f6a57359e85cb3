// Field sets for managedFields and server-side apply. A field path is a list of elements in
// Kubernetes' FieldsV1 notation: "f:name" for a field, "k:{...}" for an item of an associative
// list, "v:..." for a member of a set. Sets are kept as Sets of JSON-encoded paths.
import { child, type Schema } from './schema/dsl.ts';
import type { Obj } from '../shared/kube/object.ts';
import { own } from './own.ts';

export type FieldSet = Set<string>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Top-level and metadata fields that belong to the system, not to a manager. */
const META_SYSTEM = new Set([
  'name',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
]);

function keyOf(item: Obj, keys: string[]): string {
  const o: Obj = {};
  for (const k of keys) if (item[k] !== undefined) o[k] = item[k];
  return 'k:' + JSON.stringify(o);
}

function walk(v: unknown, s: Schema | undefined, path: string[], out: FieldSet, root = false) {
  if (Array.isArray(v)) {
    if (s?.t === 'array' && s.listType === 'map' && s.keys) {
      for (const item of v) {
        if (!isObj(item)) continue;
        const p = [...path, keyOf(item, s.keys)];
        out.add(JSON.stringify([...p, '.']));
        walk(item, s.items, p, out);
      }
      return;
    }
    if (s?.t === 'array' && s.listType === 'set') {
      for (const item of v) out.add(JSON.stringify([...path, 'v:' + JSON.stringify(item)]));
      return;
    }
    out.add(JSON.stringify(path));
    return;
  }
  if (isObj(v) && s?.t !== 'any' && Object.keys(v).length > 0) {
    for (const [k, x] of Object.entries(v)) {
      if (root && (k === 'apiVersion' || k === 'kind')) continue;
      if (path.length === 1 && path[0] === 'f:metadata' && META_SYSTEM.has(k)) continue;
      walk(x, child(s, k), [...path, 'f:' + k], out);
    }
    return;
  }
  if (path.length) out.add(JSON.stringify(path));
}

export function fieldsOf(obj: Obj, schema: Schema, opts: { skipStatus?: boolean } = {}): FieldSet {
  const out: FieldSet = new Set();
  const o = { ...obj };
  if (opts.skipStatus) delete o.status;
  walk(o, schema, [], out, true);
  return out;
}

/** Value at a field path, or undefined (a set member is `true` when present). */
export function valueAt(obj: unknown, path: string[]): unknown {
  let cur: unknown = obj;
  for (const el of path) {
    if (el === '.') return cur === undefined ? undefined : true;
    if (cur === undefined || cur === null) return undefined;
    if (el.startsWith('f:')) cur = isObj(cur) ? own(cur, el.slice(2)) : undefined;
    else if (el.startsWith('k:')) {
      const key = JSON.parse(el.slice(2));
      cur = Array.isArray(cur)
        ? cur.find(
            (it) => isObj(it) && Object.entries(key).every(([k, v]) => JSON.stringify(it[k]) === JSON.stringify(v)),
          )
        : undefined;
    } else if (el.startsWith('v:')) {
      const val = el.slice(2);
      return Array.isArray(cur) && cur.some((it) => JSON.stringify(it) === val) ? true : undefined;
    }
  }
  return cur;
}

/** Removes the field at a path (and empties left behind by it). */
export function removeAt(obj: Obj, path: string[]): void {
  const [el, ...rest] = path;
  if (el === undefined) return;
  const last = rest.length === 0 || (rest.length === 1 && rest[0] === '.');
  if (el.startsWith('f:')) {
    const k = el.slice(2);
    if (!isObj(obj)) return;
    if (last) {
      delete obj[k];
      return;
    }
    const c = own(obj, k);
    if (isObj(c) || Array.isArray(c)) {
      removeAt(c as Obj, rest);
      if ((isObj(c) && Object.keys(c).length === 0) || (Array.isArray(c) && c.length === 0)) delete obj[k];
    }
    return;
  }
  if (!Array.isArray(obj)) return;
  const arr = obj as unknown as unknown[];
  if (el.startsWith('v:')) {
    const i = arr.findIndex((it) => JSON.stringify(it) === el.slice(2));
    if (i >= 0) arr.splice(i, 1);
    return;
  }
  if (el.startsWith('k:')) {
    const key = JSON.parse(el.slice(2));
    const i = arr.findIndex(
      (it) => isObj(it) && Object.entries(key).every(([k, v]) => JSON.stringify(it[k]) === JSON.stringify(v)),
    );
    if (i < 0) return;
    if (last) arr.splice(i, 1);
    else removeAt(arr[i] as Obj, rest);
  }
}

/** FieldsV1 JSON tree from a field set. */
export function toFieldsV1(set: FieldSet): Obj {
  const root: Obj = {};
  for (const enc of [...set].sort()) {
    let cur = root;
    for (const el of JSON.parse(enc) as string[]) cur = cur[el] ??= {};
  }
  return root;
}

export function fromFieldsV1(tree: unknown): FieldSet {
  const out: FieldSet = new Set();
  const rec = (node: unknown, path: string[]) => {
    if (!isObj(node)) return;
    const keys = Object.keys(node);
    if (keys.length === 0 && path.length) {
      out.add(JSON.stringify(path));
      return;
    }
    for (const k of keys) rec(node[k], [...path, k]);
  };
  rec(tree, []);
  return out;
}

/** Renders a path as Kubernetes prints it in conflict messages: .spec.replicas, .spec.containers[name="x"].image */
export function pathString(path: string[]): string {
  let s = '';
  for (const el of path) {
    if (el === '.') continue;
    if (el.startsWith('f:')) s += '.' + el.slice(2);
    else if (el.startsWith('k:'))
      s +=
        '[' +
        Object.entries(JSON.parse(el.slice(2)))
          .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(',') +
        ']';
    else if (el.startsWith('v:')) s += `[=${el.slice(2)}]`;
  }
  return s;
}
