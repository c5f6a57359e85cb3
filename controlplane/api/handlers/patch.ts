// patch: JSON patch, merge patch, strategic merge patch and server-side apply, of an object, its
// status, or its scale.
import { boolParam, decodeBody, mediaType, readBody, sendJson } from '../http.ts';
import { toScale, type PatchType } from '../registry.ts';
import { ApiError, badRequest, methodNotAllowed } from '../status.ts';
import type { Obj } from '../../shared/kube/object.ts';
import type { Call } from './call.ts';
import { respond } from './respond.ts';

const PATCH_TYPES: Record<string, PatchType> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
  'application/apply-patch+yaml': 'apply',
  'application/apply-patch+json': 'apply',
};

/** Checks the patch request, applies it, and returns the object written. */
async function applyPatch(call: Call): Promise<{ obj: Obj; created: boolean }> {
  const { req, q, route } = call;
  const { res: r, namespace, name, sub } = route;
  if (!name) throw methodNotAllowed('the server does not allow this method on the requested resource');
  const type = PATCH_TYPES[mediaType(req)];
  if (!type)
    throw new ApiError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types ` +
        `include: ${Object.keys(PATCH_TYPES).join(', ')}`,
    );
  if (type === 'apply' && !q.get('fieldManager'))
    throw badRequest(
      'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
    );
  if (type !== 'apply' && q.get('force'))
    throw badRequest(
      'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch',
    );
  const body = decodeBody(await readBody(req), type === 'apply' ? 'application/apply-patch+yaml' : 'application/json');
  return call.api.registry.patch(r, namespace, name, type, body, call.ctx, { sub, force: boolParam(q, 'force') });
}

export async function patch(call: Call): Promise<void> {
  const { obj, created } = await applyPatch(call);
  respond(call, created ? 201 : 200, obj);
}

/** PATCH .../NAME/scale: the patch applies to the Scale; the answer is the new Scale. */
export async function patchScale(call: Call): Promise<void> {
  const { obj } = await applyPatch(call);
  sendJson(call.res, 200, toScale(call.route.res, obj));
}
