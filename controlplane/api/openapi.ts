// OpenAPI v3 documents per group-version, generated from the schemas. kubectl reads them to learn
// that the server does strict field validation itself (the fieldValidation query parameter on
// PATCH operations) and for `kubectl explain`.
import { createHash } from 'node:crypto';
import type { Schema } from './schema/dsl.ts';
import { groups, type Resource } from './resources.ts';
import { ListMeta } from './schema/meta.ts';
import { Scale } from './schema/groups.ts';
import type { Obj } from '../shared/kube/object.ts';

class Components {
  schemas: Record<string, Obj> = {};
  ref(s: Schema): Obj {
    if (s.t === 'object' && s.name) {
      if (!this.schemas[s.name]) {
        this.schemas[s.name] = {}; // reserve first: breaks cycles
        this.schemas[s.name] = this.inline(s);
      }
      return { allOf: [{ $ref: `#/components/schemas/${s.name}` }] };
    }
    return this.inline(s);
  }
  inline(s: Schema): Obj {
    switch (s.t) {
      case 'string':
        return { type: 'string', ...(s.enum ? { enum: s.enum } : {}), ...(s.format ? { format: s.format } : {}) };
      case 'integer':
        return { type: 'integer', format: s.format ?? 'int32' };
      case 'number':
        return { type: 'number', format: 'double' };
      case 'boolean':
        return { type: 'boolean' };
      case 'intOrString':
        return { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] };
      case 'quantity':
        return { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] };
      case 'time':
        return { type: 'string', format: 'date-time' };
      case 'any':
        return { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
      case 'map':
        return { type: 'object', additionalProperties: this.ref(s.values) };
      case 'array': {
        const out: Obj = { type: 'array', items: this.ref(s.items) };
        out['x-kubernetes-list-type'] = s.listType;
        if (s.keys) out['x-kubernetes-list-map-keys'] = s.keys;
        if (s.patchKey) out['x-kubernetes-patch-merge-key'] = s.patchKey;
        if (s.patchStrategy) out['x-kubernetes-patch-strategy'] = s.patchStrategy;
        return out;
      }
      case 'object': {
        const properties: Obj = {};
        for (const [k, v] of Object.entries(s.props)) properties[k] = this.ref(v);
        return { type: 'object', properties, ...(s.required?.length ? { required: s.required } : {}) };
      }
    }
  }
}

function params(names: string[]): Obj[] {
  return names.map((name) => ({
    name,
    in: 'query',
    schema: {
      type:
        name === 'limit' || name === 'timeoutSeconds' || name === 'gracePeriodSeconds'
          ? 'integer'
          : name === 'watch' || name === 'force' || name === 'allowWatchBookmarks'
            ? 'boolean'
            : 'string',
    },
    uniqueItems: true,
  }));
}

const WRITE = ['dryRun', 'fieldManager', 'fieldValidation', 'pretty'];
const LIST = [
  'allowWatchBookmarks',
  'continue',
  'fieldSelector',
  'labelSelector',
  'limit',
  'resourceVersion',
  'resourceVersionMatch',
  'sendInitialEvents',
  'timeoutSeconds',
  'watch',
  'pretty',
];

function pathsFor(r: Resource, c: Components, schemaName: string): Obj {
  const gvk = { group: r.group, version: r.version, kind: r.kind };
  const ref = { $ref: `#/components/schemas/${schemaName}` };
  const body = (types: string[]) => ({
    content: Object.fromEntries(types.map((t) => [t, { schema: t.includes('patch') ? { type: 'object' } : ref }])),
    required: true,
  });
  const ok = { '200': { description: 'OK', content: { 'application/json': { schema: ref } } } };
  const op = (action: string, id: string, extra: Obj = {}) => ({
    operationId: id,
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvk,
    responses: ok,
    ...extra,
  });
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  const ns = r.namespaced ? '/namespaces/{namespace}' : '';
  const name = `${base}${ns}/${r.plural}/{name}`;
  const coll = `${base}${ns}/${r.plural}`;
  const pathParams = [
    ...(r.namespaced ? [{ name: 'namespace', in: 'path', required: true, schema: { type: 'string' } }] : []),
    { name: 'name', in: 'path', required: true, schema: { type: 'string' } },
  ];
  const patchTypes = [
    'application/json-patch+json',
    'application/merge-patch+json',
    'application/strategic-merge-patch+json',
    'application/apply-patch+yaml',
  ];
  const out: Obj = {
    [coll]: {
      get: op('list', `list${r.kind}`, { parameters: params(LIST) }),
      post: op('post', `create${r.kind}`, { parameters: params(WRITE), requestBody: body(['*/*']) }),
      delete: op('deletecollection', `deleteCollection${r.kind}`, {
        parameters: params([...LIST, 'gracePeriodSeconds', 'propagationPolicy', 'dryRun']),
      }),
      parameters: r.namespaced ? [pathParams[0]] : [],
    },
    [name]: {
      get: op('get', `read${r.kind}`, { parameters: params(['pretty']) }),
      put: op('put', `replace${r.kind}`, { parameters: params(WRITE), requestBody: body(['*/*']) }),
      patch: op('patch', `patch${r.kind}`, { parameters: params([...WRITE, 'force']), requestBody: body(patchTypes) }),
      delete: op('delete', `delete${r.kind}`, {
        parameters: params(['dryRun', 'gracePeriodSeconds', 'propagationPolicy', 'pretty']),
      }),
      parameters: pathParams,
    },
  };
  for (const sub of r.subresources.filter((s) => s === 'status' || s === 'scale')) {
    const subGvk = sub === 'scale' ? { group: 'autoscaling', version: 'v1', kind: 'Scale' } : gvk;
    const subRef = sub === 'scale' ? { $ref: '#/components/schemas/io.k8s.api.autoscaling.v1.Scale' } : ref;
    const subOk = { '200': { description: 'OK', content: { 'application/json': { schema: subRef } } } };
    out[`${name}/${sub}`] = {
      get: {
        operationId: `read${r.kind}${sub}`,
        'x-kubernetes-action': 'get',
        'x-kubernetes-group-version-kind': subGvk,
        responses: subOk,
      },
      put: {
        operationId: `replace${r.kind}${sub}`,
        'x-kubernetes-action': 'put',
        'x-kubernetes-group-version-kind': subGvk,
        parameters: params(WRITE),
        responses: subOk,
      },
      patch: {
        operationId: `patch${r.kind}${sub}`,
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': subGvk,
        parameters: params([...WRITE, 'force']),
        requestBody: body(patchTypes),
        responses: subOk,
      },
      parameters: pathParams,
    };
  }
  void c;
  return out;
}

export interface OpenApiIndex {
  root: Obj;
  docs: Map<string, { hash: string; body: string }>;
}

export function buildOpenApi(): OpenApiIndex {
  const docs = new Map<string, { hash: string; body: string }>();
  const root: Obj = { paths: {} };
  for (const g of groups()) {
    const key = g.group ? `apis/${g.group}/${g.version}` : `api/${g.version}`;
    const c = new Components();
    let paths: Obj = {};
    for (const r of g.resources) {
      const schema = c.inline(r.schema);
      const name = r.schema.name!;
      schema['x-kubernetes-group-version-kind'] = [{ group: r.group, version: r.version, kind: r.kind }];
      c.schemas[name] = schema;
      c.schemas[`${name}List`] = {
        type: 'object',
        required: ['items'],
        properties: {
          apiVersion: { type: 'string' },
          kind: { type: 'string' },
          items: { type: 'array', items: { $ref: `#/components/schemas/${name}` } },
          metadata: c.ref(ListMeta),
        },
        'x-kubernetes-group-version-kind': [{ group: r.group, version: r.version, kind: `${r.kind}List` }],
      };
      paths = { ...paths, ...pathsFor(r, c, name) };
    }
    if (g.resources.some((r) => r.subresources.includes('scale'))) {
      const s = c.inline(Scale);
      s['x-kubernetes-group-version-kind'] = [{ group: 'autoscaling', version: 'v1', kind: 'Scale' }];
      c.schemas['io.k8s.api.autoscaling.v1.Scale'] = s;
    }
    const doc = {
      openapi: '3.0.0',
      info: { title: 'Kubernetes', version: 'v1.32.0' },
      paths,
      components: { schemas: c.schemas },
    };
    const body = JSON.stringify(doc);
    const hash = createHash('sha512').update(body).digest('hex').slice(0, 128).toUpperCase();
    docs.set(key, { hash, body });
    root.paths[key] = { serverRelativeURL: `/openapi/v3/${key}?hash=${hash}` };
  }
  return { root, docs };
}
