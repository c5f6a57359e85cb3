// Answers shared by the verb handlers: an object (or its Table when the client asks for one),
// the Success Status of binding and eviction, and the list options a query carries.
import { sendJson, intParam, wantsTable, warningHeaders } from '../http.ts';
import { parseResourceVersion, type ListOpts } from '../registry.ts';
import { groupVersion } from '../resources.ts';
import { parseFieldSelector, parseLabelSelector } from '../selectors.ts';
import { toTable, type IncludeObject } from '../table.ts';
import type { KubeObject, Obj, Status } from '../../shared/kube/index.ts';
import type { Call, Route } from './call.ts';

export function respond(call: Call, code: number, obj: KubeObject | Obj): void {
  const { res, route, accept, ctx, q } = call;
  if (wantsTable(accept) && obj.kind !== 'Status' && obj.kind !== 'Scale') {
    const include = (q.get('includeObject') ?? 'Metadata') as IncludeObject;
    sendJson(
      res,
      code,
      toTable(
        route.res.kind,
        groupVersion(route.res),
        [obj],
        { resourceVersion: obj.metadata?.resourceVersion },
        include,
      ),
      warningHeaders(ctx.warnings),
    );
    return;
  }
  sendJson(res, code, obj, warningHeaders(ctx.warnings));
}

/** The 201 Success Status that pods/binding and pods/eviction answer with. */
export function created(call: Call): void {
  const status: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };
  sendJson(call.res, 201, status);
}

export function listOpts(route: Route, q: URLSearchParams): ListOpts {
  const rv = q.get('resourceVersion');
  if (rv) parseResourceVersion(rv);
  const fields = parseFieldSelector(route.res.kind, q.get('fieldSelector'));
  if (route.name) fields.push({ field: 'metadata.name', op: '=', value: route.name });
  return {
    labels: parseLabelSelector(q.get('labelSelector')),
    fields,
    limit: intParam(q, 'limit'),
    continueToken: q.get('continue') || undefined,
    resourceVersion: q.get('resourceVersion') ?? undefined,
    resourceVersionMatch: q.get('resourceVersionMatch') ?? undefined,
  };
}
