// Strict structural validation against a schema: unknown fields and wrong types are errors that
// name the field, as Kubernetes' strict field validation reports them.
import type { Schema } from './dsl.ts';

export interface FieldProblem {
  path: string;
  kind: 'unknown' | 'type' | 'duplicate';
  message: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function typeOf(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v === 'object' ? 'object' : typeof v;
}

export function checkSchema(value: unknown, s: Schema, path: string, out: FieldProblem[]): void {
  if (value === null || value === undefined) return; // null means "unset" in Kubernetes JSON
  const bad = (expected: string) =>
    out.push({
      path,
      kind: 'type',
      message:
        `${path}: Invalid value: "${typeOf(value)}": ${path} in body must be of type ${expected}: ` +
        `"${typeOf(value)}"`,
    });
  switch (s.t) {
    case 'string':
    case 'time':
      if (typeof value !== 'string') bad('string');
      else if (s.t === 'string' && s.enum && !s.enum.includes(value))
        out.push({
          path,
          kind: 'type',
          message:
            `${path}: Unsupported value: "${value}": ` + `supported values: ${s.enum.map((e) => `"${e}"`).join(', ')}`,
        });
      return;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) bad('integer');
      return;
    case 'number':
      if (typeof value !== 'number') bad('number');
      return;
    case 'boolean':
      if (typeof value !== 'boolean') bad('boolean');
      return;
    case 'intOrString':
      if (typeof value !== 'string' && !(typeof value === 'number' && Number.isInteger(value)))
        bad('integer or string');
      return;
    case 'quantity':
      if (typeof value !== 'string' && typeof value !== 'number') bad('string');
      return;
    case 'any':
      return;
    case 'map':
      if (!isObj(value)) {
        bad('object');
        return;
      }
      for (const [k, v] of Object.entries(value)) checkSchema(v, s.values, `${path}.${k}`, out);
      return;
    case 'array':
      if (!Array.isArray(value)) {
        bad('array');
        return;
      }
      for (const [i, v] of value.entries()) checkSchema(v, s.items, `${path}[${i}]`, out);
      return;
    case 'object':
      if (!isObj(value)) {
        bad('object');
        return;
      }
      for (const [k, v] of Object.entries(value)) {
        const sub = Object.hasOwn(s.props, k) ? s.props[k] : undefined;
        const p = path ? `${path}.${k}` : k;
        if (!sub) out.push({ path: p, kind: 'unknown', message: `unknown field "${p}"` });
        else checkSchema(v, sub, p, out);
      }
      return;
  }
}

/** Drops fields the schema does not know, as decoding into typed structs does (fieldValidation Ignore/Warn). */
export function pruneUnknown(value: unknown, s: Schema): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (s.t === 'array' && Array.isArray(value)) return value.map((v) => pruneUnknown(v, s.items));
  if (s.t === 'map' && !Array.isArray(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, pruneUnknown(v, s.values)]));
  }
  if (s.t === 'object' && !Array.isArray(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (Object.hasOwn(s.props, k)) out[k] = pruneUnknown(v, s.props[k]);
    return out;
  }
  return value;
}
