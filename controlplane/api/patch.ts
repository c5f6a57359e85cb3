// The three classic patch formats: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and
// strategic merge patch, whose list semantics come from the schema (schema/dsl.ts).
import { child, type ArraySchema, type Schema } from './schema/dsl.ts';
import { own, setOwn } from './own.ts';

// biome-ignore lint/suspicious/noExplicitAny: merge and strategic-merge patches apply to JSON documents of every kind
type Json = any;
const isObj = (v: unknown): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

export class PatchError extends Error {}

// ---- RFC 6902 ----
function unescapePtr(s: string) {
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}
function parsePtr(p: string): string[] {
  if (p === '') return [];
  if (!p.startsWith('/')) throw new PatchError(`invalid JSON pointer "${p}"`);
  return p.slice(1).split('/').map(unescapePtr);
}
function getAt(doc: Json, path: string[]): Json {
  let cur = doc;
  for (const seg of path) {
    if (Array.isArray(cur)) cur = /^(0|[1-9]\d*)$/.test(seg) ? cur[Number(seg)] : undefined;
    else if (isObj(cur)) cur = own(cur, seg);
    else return undefined;
  }
  return cur;
}
function parentOf(doc: Json, path: string[], op: string): { parent: Json; key: string } {
  if (path.length === 0) throw new PatchError(`${op} operation cannot apply to the document root`);
  const parent = getAt(doc, path.slice(0, -1));
  if (!Array.isArray(parent) && !isObj(parent))
    throw new PatchError(`${op} operation does not apply: doc is missing path: "/${path.join('/')}"`);
  return { parent, key: path[path.length - 1] };
}
function arrIndex(arr: Json[], key: string, allowEnd: boolean, op: string): number {
  if (key === '-' && allowEnd) return arr.length;
  if (!/^(0|[1-9]\d*)$/.test(key)) throw new PatchError(`${op} operation: invalid array index "${key}"`);
  const i = Number(key);
  if (i > arr.length || (!allowEnd && i === arr.length))
    throw new PatchError(`${op} operation: index ${i} is out of bounds`);
  return i;
}

export function applyJsonPatch(doc: Json, ops: unknown): Json {
  if (!Array.isArray(ops)) throw new PatchError('a JSON patch must be an array of operations');
  let out = structuredClone(doc);
  for (const raw of ops) {
    if (!isObj(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string')
      throw new PatchError(`invalid JSON patch operation: ${JSON.stringify(raw)}`);
    const path = parsePtr(raw.path);
    const add = (p: string[], value: Json) => {
      if (p.length === 0) {
        out = value;
        return;
      }
      const { parent, key } = parentOf(out, p, 'add');
      if (Array.isArray(parent)) parent.splice(arrIndex(parent, key, true, 'add'), 0, value);
      else setOwn(parent, key, value);
    };
    const remove = (p: string[], op: string): Json => {
      const { parent, key } = parentOf(out, p, op);
      if (Array.isArray(parent)) return parent.splice(arrIndex(parent, key, false, op), 1)[0];
      if (!Object.hasOwn(parent, key))
        throw new PatchError(`${op} operation does not apply: doc is missing path: "/${p.join('/')}"`);
      const v = parent[key];
      delete parent[key];
      return v;
    };
    switch (raw.op) {
      case 'add':
        if (!('value' in raw)) throw new PatchError('add operation needs a value');
        add(path, structuredClone(raw.value));
        break;
      case 'remove':
        remove(path, 'remove');
        break;
      case 'replace':
        if (!('value' in raw)) throw new PatchError('replace operation needs a value');
        if (path.length === 0) {
          out = structuredClone(raw.value);
          break;
        }
        remove(path, 'replace');
        add(path, structuredClone(raw.value));
        break;
      case 'move':
      case 'copy': {
        if (typeof raw.from !== 'string') throw new PatchError(`${raw.op} operation needs "from"`);
        const from = parsePtr(raw.from);
        const v = raw.op === 'move' ? remove(from, 'move') : structuredClone(getAt(out, from));
        if (v === undefined)
          throw new PatchError(`${raw.op} operation does not apply: doc is missing from path: "${raw.from}"`);
        add(path, v);
        break;
      }
      case 'test':
        if (JSON.stringify(getAt(out, path)) !== JSON.stringify(raw.value))
          throw new PatchError(`testing value ${raw.path} failed`);
        break;
      default:
        throw new PatchError(`unexpected kind: ${raw.op}`);
    }
  }
  return out;
}

// ---- RFC 7386 ----
export function applyMergePatch(target: Json, patch: Json): Json {
  if (!isObj(patch)) return structuredClone(patch);
  const out: Record<string, Json> = isObj(target) ? structuredClone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else setOwn(out, k, applyMergePatch(own(out, k), v));
  }
  return out;
}

// ---- strategic merge patch ----
const ELEMENT_ORDER = '$setElementOrder/';
const DELETE_PRIMITIVE = '$deleteFromPrimitiveList/';

function mergeKeyed(orig: Json[], patch: Json[], s: ArraySchema): Json[] {
  const key = s.patchKey!;
  if (patch.some((p) => isObj(p) && p.$patch === 'replace')) {
    return patch.filter((p) => !(isObj(p) && p.$patch === 'replace')).map((p) => stripDirectives(p));
  }
  const out = structuredClone(orig) as Json[];
  for (const item of patch) {
    if (!isObj(item)) throw new PatchError(`a merge list item must be an object, found ${JSON.stringify(item)}`);
    if (!Object.hasOwn(item, key))
      throw new PatchError(`map: ${JSON.stringify(item)} does not contain declared merge key: ${key}`);
    const idx = out.findIndex((o) => isObj(o) && own(o, key) === own(item, key));
    if (item.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = strategicMerge(out[idx], item, s.items);
    else out.push(stripDirectives(strategicMerge({}, item, s.items)));
  }
  return out;
}

function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObj(v)) return v;
  const o: Record<string, Json> = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith('$')) setOwn(o, k, stripDirectives(x));
  return o;
}

function reorder(list: Json[], order: Json[], key: string | undefined): Json[] {
  const id = (x: Json) => JSON.stringify(key && isObj(x) ? x[key] : x);
  const pos = new Map(order.map((o, i) => [id(o), i]));
  const inOrder = list.filter((x) => pos.has(id(x))).sort((a, b) => pos.get(id(a))! - pos.get(id(b))!);
  const rest = list.filter((x) => !pos.has(id(x)));
  return [...inOrder, ...rest];
}

export function strategicMerge(orig: Json, patch: Json, schema: Schema | undefined): Json {
  if (!isObj(patch)) return structuredClone(patch);
  const directive = own(patch, '$patch');
  if (directive !== undefined && !['replace', 'delete', 'merge'].includes(directive))
    throw new PatchError(
      `unknown patch type: ${JSON.stringify(directive)} in map: ${JSON.stringify(patch).slice(0, 200)}`,
    );
  const retain = own(patch, '$retainKeys');
  if (retain !== undefined && !(Array.isArray(retain) && retain.every((k) => typeof k === 'string')))
    throw new PatchError('$retainKeys must be a list of strings');
  if (patch.$patch === 'replace') return stripDirectives(patch);
  if (patch.$patch === 'delete') return undefined;
  const out: Record<string, Json> = isObj(orig) ? structuredClone(orig) : {};
  const orders: [string, Json[]][] = [];
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys') continue;
    if (k.startsWith(ELEMENT_ORDER)) {
      orders.push([k.slice(ELEMENT_ORDER.length), v]);
      continue;
    }
    if (k.startsWith(DELETE_PRIMITIVE)) {
      const f = k.slice(DELETE_PRIMITIVE.length);
      const cur = own(out, f);
      if (Array.isArray(cur) && Array.isArray(v))
        setOwn(
          out,
          f,
          cur.filter((x: Json) => !v.includes(x)),
        );
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    const sub = child(schema, k);
    const cur = own(out, k);
    if (Array.isArray(v)) {
      if (sub?.t === 'array' && sub.listType === 'map' && sub.patchKey)
        setOwn(out, k, mergeKeyed(Array.isArray(cur) ? cur : [], v, sub));
      else if (sub?.t === 'array' && sub.listType === 'set') {
        const base = Array.isArray(cur) ? cur : [];
        setOwn(out, k, [...base, ...v.filter((x) => !base.some((b: Json) => JSON.stringify(b) === JSON.stringify(x)))]);
      } else setOwn(out, k, stripDirectives(v));
      continue;
    }
    if (isObj(v) && sub?.t !== 'any') {
      const merged = strategicMerge(cur, v, sub);
      if (merged === undefined) delete out[k];
      else setOwn(out, k, merged);
      continue;
    }
    setOwn(out, k, structuredClone(v));
  }
  for (const [f, order] of orders) {
    const sub = child(schema, f);
    const cur = own(out, f);
    if (Array.isArray(cur) && Array.isArray(order))
      setOwn(out, f, reorder(cur, order, sub?.t === 'array' ? sub.patchKey : undefined));
  }
  if (Array.isArray(patch.$retainKeys)) {
    for (const k of Object.keys(out)) if (!patch.$retainKeys.includes(k)) delete out[k];
  }
  return out;
}
