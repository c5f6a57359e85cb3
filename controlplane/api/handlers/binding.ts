// create pods/NAME/binding: the scheduler (or a client) assigns a pod to a node.
import { authorizeRoute, type Call } from './call.ts';
import { requestBody } from './body.ts';
import { created } from './respond.ts';

export async function bind(call: Call): Promise<void> {
  const { route, ctx } = call;
  const body = await requestBody(call.req);
  authorizeRoute(call.user, route, 'create');
  await call.api.registry.bind(route.namespace!, route.name!, body, route.res, ctx);
  created(call);
}
