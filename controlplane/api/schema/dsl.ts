// A small schema language for Kubernetes types. One description per type drives strict field
// validation, the OpenAPI v3 documents kubectl reads, strategic-merge-patch merge keys and the
// list semantics of server-side apply, so the four can never disagree.

export type Schema =
  | { t: 'string'; enum?: string[]; format?: string; name?: string }
  | { t: 'integer'; format?: 'int32' | 'int64'; name?: string }
  | { t: 'number'; name?: string }
  | { t: 'boolean'; name?: string }
  | { t: 'intOrString'; name?: string }
  | { t: 'quantity'; name?: string }
  | { t: 'time'; name?: string }
  | { t: 'any'; name?: string }
  | {
      t: 'object';
      props: Record<string, Schema>;
      required?: string[];
      name?: string /** map granular for SSA */;
      atomic?: boolean;
    }
  | { t: 'map'; values: Schema; name?: string }
  | ArraySchema;

export interface ArraySchema {
  t: 'array';
  items: Schema;
  /** SSA list type: atomic (replace whole), set (primitive, merged), map (merged by keys). */
  listType: 'atomic' | 'set' | 'map';
  keys?: string[];
  /** Strategic merge patch: merge by this key (or primitive merge when listType is set). */
  patchKey?: string;
  patchStrategy?: 'merge' | 'retainKeys' | 'merge,retainKeys';
  /** Values a missing key field takes (protocol: TCP), so items match before defaulting. */
  keyDefaults?: Record<string, unknown>;
  name?: string;
}

export const str = (opts: { enum?: string[]; format?: string } = {}): Schema => ({ t: 'string', ...opts });
export const int = (format: 'int32' | 'int64' = 'int32'): Schema => ({ t: 'integer', format });
export const num: Schema = { t: 'number' };
export const bool: Schema = { t: 'boolean' };
export const intOrStr: Schema = { t: 'intOrString' };
export const quantity: Schema = { t: 'quantity' };
export const time: Schema = { t: 'time' };
export const any: Schema = { t: 'any' };
export const map = (values: Schema): Schema => ({ t: 'map', values });
export const strMap = (): Schema => map(str());

export function obj(name: string, props: Record<string, Schema>, required: string[] = []): Schema {
  return { t: 'object', props, required, name };
}

/** An atomic list (replaced whole by every patch type). */
export const list = (items: Schema): ArraySchema => ({ t: 'array', items, listType: 'atomic' });
/** A set of primitives, merged by strategic merge patch. */
export const set = (items: Schema): ArraySchema => ({ t: 'array', items, listType: 'set', patchStrategy: 'merge' });
/** An associative list keyed by `keys` (first key is the SMP merge key). */
export const keyed = (items: Schema, ...keys: string[]): ArraySchema => ({
  t: 'array',
  items,
  listType: 'map',
  keys,
  patchKey: keys[0],
  patchStrategy: 'merge',
  ...(keys.includes('protocol') ? { keyDefaults: { protocol: 'TCP' } } : {}),
});

/** Fills defaulted key fields of associative-list items, recursively. */
export function fillKeyDefaults(v: unknown, s: Schema | undefined): void {
  if (!s || v === null || typeof v !== 'object') return;
  if (Array.isArray(v)) {
    if (s.t !== 'array') return;
    for (const item of v) {
      if (s.keyDefaults && item && typeof item === 'object') {
        for (const [k, d] of Object.entries(s.keyDefaults))
          if ((item as Record<string, unknown>)[k] === undefined) (item as Record<string, unknown>)[k] = d;
      }
      fillKeyDefaults(item, s.items);
    }
    return;
  }
  for (const [k, x] of Object.entries(v)) fillKeyDefaults(x, child(s, k));
}

/** Looks up the schema of a child field. */
export function child(s: Schema | undefined, field: string): Schema | undefined {
  if (!s) return undefined;
  if (s.t === 'object') return Object.hasOwn(s.props, field) ? s.props[field] : undefined;
  if (s.t === 'map') return s.values;
  if (s.t === 'any') return s;
  return undefined;
}
