// delete and deletecollection, with DeleteOptions from the query or the body.
import { decodeBody, intParam, mediaType, readBody, sendJson } from '../http.ts';
import type { DeleteOpts } from '../registry.ts';
import { groupVersion } from '../resources.ts';
import { badRequest } from '../status.ts';
import type { Call } from './call.ts';
import { listOpts, respond } from './respond.ts';

/** The DeleteOptions fields the server reads. */
interface DeleteOptions {
  gracePeriodSeconds?: unknown;
  propagationPolicy?: string;
  orphanDependents?: boolean;
  preconditions?: DeleteOpts['preconditions'];
  dryRun?: string[];
}

const PROPAGATION = ['Orphan', 'Background', 'Foreground'];

/** Reads and checks the options (a dryRun in the body makes the call a dry run). */
async function deleteOptions(call: Call): Promise<DeleteOpts> {
  const { req, q, ctx } = call;
  const buf = await readBody(req);
  let opts: DeleteOptions = {};
  if (buf.length) {
    const b = decodeBody(buf, mediaType(req));
    if (typeof b !== 'object' || b === null) throw badRequest('DeleteOptions must be an object');
    opts = b as DeleteOptions;
  }
  const grace = intParam(q, 'gracePeriodSeconds') ?? opts.gracePeriodSeconds;
  if (grace !== undefined && (typeof grace !== 'number' || grace < 0))
    throw badRequest('gracePeriodSeconds must be a non-negative integer');
  const propagation =
    q.get('propagationPolicy') ?? opts.propagationPolicy ?? (opts.orphanDependents === true ? 'Orphan' : undefined);
  if (propagation !== undefined && !PROPAGATION.includes(propagation))
    throw badRequest(
      `DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "${propagation}": ` +
        `supported values: "Foreground", "Background", "Orphan", "nil"`,
    );
  if ((opts.dryRun ?? []).length) ctx.dryRun = true;
  return {
    gracePeriodSeconds: grace,
    propagationPolicy: propagation as DeleteOpts['propagationPolicy'],
    preconditions: opts.preconditions,
  };
}

export async function del(call: Call): Promise<void> {
  const { res: r, namespace, name } = call.route;
  const opts = await deleteOptions(call);
  const { obj, gone } = await call.api.registry.delete(r, namespace, name!, opts, call.ctx);
  respond(call, gone ? 200 : 202, obj);
}

export async function deleteCollection(call: Call): Promise<void> {
  const { route, q } = call;
  const { res: r, namespace } = route;
  const opts = await deleteOptions(call);
  const items = await call.api.registry.deleteCollection(r, namespace, listOpts(route, q), opts, call.ctx);
  sendJson(call.res, 200, { kind: `${r.kind}List`, apiVersion: groupVersion(r), metadata: {}, items });
}
