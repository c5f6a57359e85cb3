// The verb table: which handler answers a routed request, by its verb (from the method, the
// name and ?watch, as upstream names them) and, where one has its own handling, its subresource.
import { EXEC_PROTOCOLS } from '../../streaming/exec.ts';
import { PORTFORWARD_TUNNEL_PROTOCOL } from '../../streaming/portforward.ts';
import { badRequest, methodNotAllowed } from '../status.ts';
import { bind } from './binding.ts';
import type { Call, Handler } from './call.ts';
import { CONNECT_SUBRESOURCES } from './connect.ts';
import { create } from './create.ts';
import { del, deleteCollection } from './delete.ts';
import { evict } from './eviction.ts';
import { get, getScale } from './get.ts';
import { list } from './list.ts';
import { podLog } from './log.ts';
import { patch, patchScale } from './patch.ts';
import { finalize, update, updateScale } from './update.ts';
import { watch } from './watch.ts';

const VERBS: Record<string, Handler> = {
  get,
  list,
  watch,
  create,
  update,
  patch,
  delete: del,
  deletecollection: deleteCollection,
};

/** Subresources with their own handler, as "verb sub"; the others go to the verb's handler. */
const SUBRESOURCES: Record<string, Handler> = {
  'get log': podLog,
  // A log is streamed with ?follow, never watched: ?watch on it still reads the log.
  'watch log': podLog,
  'get scale': getScale,
  'update scale': updateScale,
  'patch scale': patchScale,
  'create binding': bind,
  'create eviction': evict,
  'update finalize': finalize,
};

const METHOD_VERBS: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'patch' };
/** The methods the verb table serves; any other is a 405. */
const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

/** The verb of a request, as authorization and the handler table know it. */
export function verbOf(method: string, watching: boolean, named: boolean): string {
  if (method === 'GET') return watching ? 'watch' : named ? 'get' : 'list';
  if (method === 'DELETE') return named ? 'delete' : 'deletecollection';
  return METHOD_VERBS[method] ?? method.toLowerCase();
}

export async function serveVerb(call: Call, verb: string): Promise<void> {
  const method = call.req.method ?? 'GET';
  const sub = call.route.sub;
  if (sub && CONNECT_SUBRESOURCES.includes(sub))
    throw badRequest(
      `${sub} needs a connection upgrade ` +
        `(WebSocket ${sub === 'portforward' ? PORTFORWARD_TUNNEL_PROTOCOL : EXEC_PROTOCOLS[0]})`,
    );
  const handler = METHODS.has(method) ? (SUBRESOURCES[`${verb} ${sub}`] ?? VERBS[verb]) : undefined;
  if (!handler) throw methodNotAllowed(`${method} is not supported`);
  return handler(call);
}
