// update: PUT of a whole object (or of its status or ephemeralcontainers), of a scale, and the
// namespace finalize subresource.
import { sendJson, warningHeaders } from '../http.ts';
import { methodNotAllowed } from '../status.ts';
import type { Call } from './call.ts';
import { requestBody } from './body.ts';
import { respond } from './respond.ts';

export async function update(call: Call): Promise<void> {
  const { res: r, namespace, name, sub } = call.route;
  if (!name) throw methodNotAllowed('the server does not allow this method on the requested resource');
  const body = await requestBody(call.req);
  const { obj, created } = await call.api.registry.update(r, namespace, name, body, call.ctx, sub);
  respond(call, created ? 201 : 200, obj);
}

/** PUT .../NAME/scale: sets spec.replicas from a Scale. */
export async function updateScale(call: Call): Promise<void> {
  const { res: r, namespace, name } = call.route;
  const body = await requestBody(call.req);
  const scale = await call.api.registry.updateScale(r, namespace, name!, body, call.ctx);
  sendJson(call.res, 200, scale, warningHeaders(call.ctx.warnings));
}

/** PUT namespaces/NAME/finalize: an update whose spec.finalizers the namespace controller empties. */
export async function finalize(call: Call): Promise<void> {
  const { res: r, name } = call.route;
  const body = await requestBody(call.req);
  const { obj } = await call.api.registry.update(r, undefined, name!, body, call.ctx);
  respond(call, 200, obj);
}
