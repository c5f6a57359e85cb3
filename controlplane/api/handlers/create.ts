// create: POST to a collection.
import { badRequest, methodNotAllowed } from '../status.ts';
import { authorizeRoute, type Call } from './call.ts';
import { bodyName, requestBody } from './body.ts';
import { respond } from './respond.ts';

export async function create(call: Call): Promise<void> {
  const { route, ctx } = call;
  const { res: r, namespace, name } = route;
  const body = await requestBody(call.req);
  authorizeRoute(call.user, route, 'create', name ?? bodyName(body));
  // A Binding posted to the pods collection (the old way to bind) is refused with a pointer.
  if (!name && r.subresources.includes('binding') && (body as { kind?: unknown } | null)?.kind === 'Binding')
    throw badRequest('use the pods/binding subresource');
  if (name) throw methodNotAllowed(`the server does not allow this method on the requested resource`);
  respond(call, 201, await call.api.registry.create(r, namespace, body, ctx));
}
