// list: a collection, streamed as it is read; as one Table when the client asks for one.
import { sendJson, wantsTable } from '../http.ts';
import { streamList } from '../list-stream.ts';
import { groupVersion } from '../resources.ts';
import { toTable, type IncludeObject } from '../table.ts';
import type { ListMeta } from '../../shared/kube/index.ts';
import type { Call } from './call.ts';
import { listOpts } from './respond.ts';

export async function list(call: Call): Promise<void> {
  const { route, q, api } = call;
  const { res: r, namespace } = route;
  if (!wantsTable(call.accept)) return streamList(call.res, api.registry, r, namespace, listOpts(route, q), {});
  const found = await api.registry.list(r, namespace, listOpts(route, q));
  const meta: ListMeta = { resourceVersion: found.resourceVersion };
  if (found.continue) meta.continue = found.continue;
  if (found.remaining !== undefined) meta.remainingItemCount = found.remaining;
  const include = (q.get('includeObject') ?? 'Metadata') as IncludeObject;
  sendJson(call.res, 200, toTable(r.kind, groupVersion(r), found.items, meta, include));
}
