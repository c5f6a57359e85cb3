// Namespace finalization: a namespace marked for deletion is emptied of every namespaced object,
// then its "kubernetes" finalizer is removed and it disappears. Level-triggered: each pass
// looks at all terminating namespaces, so missed events or a restart change nothing.
import { RESOURCES } from '../api/resources.ts';
import type { Ctx, Registry } from '../api/registry.ts';
import { ApiError } from '../api/status.ts';

const ctx: Ctx = {
  user: 'system:controller:namespace',
  manager: 'namespace-controller',
  dryRun: false,
  fieldValidation: 'Ignore',
  warnings: [],
};
const NS = RESOURCES.find((r) => r.kind === 'Namespace')!;

export async function finalizeNamespaces(reg: Registry): Promise<void> {
  const { items } = await reg.list(NS, undefined, { labels: [], fields: [] });
  for (const ns of items.filter((n) => n.metadata.deletionTimestamp)) {
    const name = ns.metadata.name;
    let remaining = 0;
    for (const r of RESOURCES.filter((x) => x.namespaced)) {
      const { items: objs } = await reg.list(r, name, { labels: [], fields: [] });
      for (const o of objs) {
        remaining++;
        try {
          if (o.metadata.deletionTimestamp && (o.metadata.finalizers ?? []).length === 0 && r.kind === 'Pod') {
            // A pod whose node never confirms keeps the namespace; force it once its grace period is over.
            if (Date.parse(o.metadata.deletionTimestamp) < Date.now())
              await reg.delete(r, name, o.metadata.name, { gracePeriodSeconds: 0 }, ctx);
            continue;
          }
          if (!o.metadata.deletionTimestamp)
            await reg.delete(r, name, o.metadata.name, { propagationPolicy: 'Background' }, ctx);
        } catch (e) {
          if (!(e instanceof ApiError && (e.code === 404 || e.code === 409))) throw e;
        }
      }
    }
    if (remaining > 0) continue;
    const spec = ns.spec ?? {};
    if ((spec.finalizers ?? []).includes('kubernetes')) {
      try {
        await reg.update(
          NS,
          undefined,
          name,
          { ...ns, spec: { ...spec, finalizers: spec.finalizers.filter((f: string) => f !== 'kubernetes') } },
          ctx,
        );
      } catch (e) {
        if (!(e instanceof ApiError && (e.code === 404 || e.code === 409))) throw e;
      }
    }
    try {
      const cur = await reg.get(NS, undefined, name);
      if (!(cur.spec?.finalizers ?? []).length && !(cur.metadata.finalizers ?? []).length)
        await reg.delete(NS, undefined, name, {}, { ...ctx });
    } catch (e) {
      if (!(e instanceof ApiError && (e.code === 404 || e.code === 409 || e.code === 403))) throw e;
    }
  }
}
