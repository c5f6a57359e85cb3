// get: one object, or its scale subresource.
import { sendJson } from '../http.ts';
import type { Call } from './call.ts';
import { respond } from './respond.ts';

export async function get(call: Call): Promise<void> {
  const { res: r, namespace, name } = call.route;
  respond(call, 200, await call.api.registry.get(r, namespace, name!));
}

/** GET .../NAME/scale: the object seen as an autoscaling/v1 Scale. */
export async function getScale(call: Call): Promise<void> {
  const { res: r, namespace, name } = call.route;
  sendJson(call.res, 200, await call.api.registry.getScale(r, namespace, name!));
}
