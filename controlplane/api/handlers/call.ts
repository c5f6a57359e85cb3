// What a verb handler is given: the request as routed (resource, namespace, name, subresource),
// who asks, the request's context, and the parts of the API server it may use.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Tunnels } from '../../channel/tunnel.ts';
import type { User } from '../auth.ts';
import { authorize } from '../authz.ts';
import type { Metrics } from '../metrics.ts';
import type { Ctx, Registry } from '../registry.ts';
import type { Resource } from '../resources.ts';
import { forbidden } from '../status.ts';

/** A resource path as routed: /api/v1/namespaces/NS/PLURAL/NAME/SUB (or its watch form). */
export interface Route {
  res: Resource;
  namespace?: string;
  name?: string;
  sub?: string;
  watchPath: boolean;
}

/** The parts of the API server a handler uses. */
export interface ApiParts {
  registry: Registry;
  metrics: Metrics;
  /** The agents' reverse tunnels (pods/log), once the channel is up. */
  tunnels: Tunnels | null;
  /** Stoppers of the open watches, so the server can end them all. */
  watches: Set<() => void>;
}

/** One routed request. */
export interface Call {
  req: IncomingMessage;
  res: ServerResponse;
  route: Route;
  q: URLSearchParams;
  ctx: Ctx;
  accept: string;
  user: User;
  api: ApiParts;
}

export type Handler = (call: Call) => Promise<void>;

/** Refuses (403, in upstream's wording) what the user may not do to the routed resource. */
export function authorizeRoute(user: User, route: Route, verb: string, name = route.name): void {
  const d = authorize(user, {
    verb,
    group: route.res.group,
    resource: route.res.plural,
    subresource: route.sub,
    namespace: route.namespace,
    name,
  });
  if (!d.allowed) {
    const what = `${route.res.plural}${route.res.group ? '.' + route.res.group : ''}${name ? ` "${name}"` : ''}`;
    throw forbidden(
      `${what} is forbidden: User "${user.name}" cannot ${verb} resource ` +
        `"${route.res.plural}${route.sub ? '/' + route.sub : ''}" in API group ` +
        `"${route.res.group}"${route.namespace ? ` in the namespace "${route.namespace}"` : ''}: ${d.reason}`,
    );
  }
}
