// Label and field selectors, parsed from the query string as the API server accepts them.
// Matching labels is shared (controlplane/shared/labels.ts); field selectors are the API's own.
import { badRequest } from './status.ts';
import { labelValueErrors, qualifiedNameErrors } from './validate.ts';
import type { Requirement } from '../shared/labels.ts';

/** Splits on commas that are not inside parentheses. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0,
    cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  out.push(cur);
  return out.map((x) => x.trim()).filter((x) => x.length > 0);
}

export function parseLabelSelector(s: string | null | undefined): Requirement[] {
  if (!s) return [];
  const reqs: Requirement[] = [];
  for (const part of splitTop(s)) {
    let m: RegExpMatchArray | null;
    const checkKey = (k: string) => {
      const e = qualifiedNameErrors(k);
      if (e) throw badRequest(`unable to parse requirement: invalid label key "${k}": ${e}`);
    };
    const checkVal = (v: string) => {
      const e = labelValueErrors(v);
      if (e) throw badRequest(`unable to parse requirement: invalid label value: "${v}": ${e}`);
    };
    if ((m = part.match(/^!\s*([^\s!=(),]+)$/))) {
      checkKey(m[1]);
      reqs.push({ key: m[1], op: '!exists' });
      continue;
    }
    if ((m = part.match(/^([^\s!=(),]+)\s+(in|notin)\s+\(([^()]*)\)$/))) {
      checkKey(m[1]);
      const values = m[3]
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '' || m![3].trim() === '');
      values.forEach(checkVal);
      reqs.push({ key: m[1], op: m[2] as 'in' | 'notin', values });
      continue;
    }
    if ((m = part.match(/^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/))) {
      checkKey(m[1]);
      checkVal(m[3]);
      reqs.push({ key: m[1], op: m[2] === '!=' ? '!=' : '=', value: m[3] });
      continue;
    }
    if ((m = part.match(/^([^\s!=(),]+)$/))) {
      checkKey(m[1]);
      reqs.push({ key: m[1], op: 'exists' });
      continue;
    }
    throw badRequest(`unable to parse requirement: found '${part}', expected: in, notin, =, ==, !=, or end of string`);
  }
  return reqs;
}

export interface FieldReq {
  field: string;
  op: '=' | '!=';
  value: string;
}

/** Field paths each kind supports in fieldSelector (metadata.name and metadata.namespace always). */
const FIELDS: Record<string, string[]> = {
  Pod: [
    'spec.nodeName',
    'spec.restartPolicy',
    'spec.schedulerName',
    'spec.serviceAccountName',
    'spec.hostNetwork',
    'status.phase',
    'status.podIP',
    'status.nominatedNodeName',
  ],
  Event: [
    'involvedObject.kind',
    'involvedObject.namespace',
    'involvedObject.name',
    'involvedObject.uid',
    'involvedObject.apiVersion',
    'involvedObject.resourceVersion',
    'involvedObject.fieldPath',
    'reason',
    'reportingComponent',
    'source',
    'type',
  ],
  Secret: ['type'],
  Node: ['spec.unschedulable'],
  Namespace: ['status.phase'],
  Service: ['spec.clusterIP', 'spec.type'],
  ReplicaSet: ['status.replicas'],
  Job: ['status.successful'],
  ReplicationController: ['status.replicas'],
};

export function parseFieldSelector(kind: string, s: string | null | undefined): FieldReq[] {
  if (!s) return [];
  const allowed = new Set(['metadata.name', 'metadata.namespace', ...(FIELDS[kind] ?? [])]);
  return s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
    .map((part) => {
      const m = part.match(/^([^=!]+?)\s*(==|=|!=)\s*(.*)$/);
      if (!m) throw badRequest(`invalid selector: '${part}'; can't understand '${part}'`);
      if (!allowed.has(m[1])) throw badRequest(`field label not supported: ${m[1]}`);
      return { field: m[1], op: m[2] === '!=' ? '!=' : '=', value: m[3] } as FieldReq;
    });
}

/** The value at a dotted path of any object ('' when absent); an Event's `source` is its component. */
function fieldValue(obj: object, path: string): string {
  const at = (o: unknown, key: string): unknown =>
    typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[key] : undefined;
  let v: unknown = obj;
  for (const p of path.split('.')) v = at(v, p);
  if (path === 'source' && v) v = at(v, 'component');
  if (v === undefined || v === null) return '';
  return String(v);
}

export function matchFields(reqs: FieldReq[], obj: object): boolean {
  return reqs.every((r) => (fieldValue(obj, r.field) === r.value) === (r.op === '='));
}
