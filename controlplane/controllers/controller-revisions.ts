// ControllerRevisions for DaemonSets and StatefulSets, as Kubernetes keeps them: one per
// template (named <owner>-<hash>, data = the template as a replacing patch, a revision number),
// the current template's revision moved to the top when an old template comes back (undo), and
// old ones beyond revisionHistoryLimit removed. This is what `kubectl rollout history` and
// `rollout undo` read. planRevisions is the pure part.
import type { Ctx, Registry } from '../api/registry.ts';
import { RESOURCES } from '../api/resources.ts';
import type { Informer } from './informer.ts';
import { controllerOf, ignoreGone, ownerRef } from './ownership.ts';
import type { ControllerRevision, Obj, Stored } from '../shared/kube/index.ts';

/** The revision Skiff writes: the owner's template as a replacing patch. */
export type TemplateRevision = ControllerRevision & {
  data: { spec: { template: Record<string, unknown> & { $patch: 'replace' } } };
};

const REVISIONS = RESOURCES.find((r) => r.kind === 'ControllerRevision')!;

export interface RevisionPlan {
  create?: TemplateRevision;
  bump?: { name: string; revision: number };
  remove: string[];
}

// The owner (a DaemonSet or StatefulSet) is still untyped in its controllers.
export function planRevisions(
  owner: Obj,
  hash: string,
  labels: Record<string, string>,
  existing: ControllerRevision[],
): RevisionPlan {
  const mine = existing
    .filter((r) => controllerOf(r)?.uid === owner.metadata.uid)
    .sort((a, b) => a.revision - b.revision);
  const name = `${owner.metadata.name}-${hash}`;
  const max = Math.max(0, ...mine.map((r) => Number(r.revision ?? 0)));
  const plan: RevisionPlan = { remove: [] };
  const cur = mine.find((r) => r.metadata.name === name);
  if (!cur) {
    plan.create = {
      apiVersion: 'apps/v1',
      kind: 'ControllerRevision',
      metadata: {
        name,
        namespace: owner.metadata.namespace,
        labels: { ...labels, 'controller-revision-hash': hash },
        ownerReferences: [ownerRef(owner)],
      },
      data: { spec: { template: { ...structuredClone(owner.spec?.template ?? {}), $patch: 'replace' } } },
      revision: max + 1,
    };
  } else if (Number(cur.revision) < max) plan.bump = { name, revision: max + 1 };
  const limit = owner.spec?.revisionHistoryLimit ?? 10;
  const old = mine.filter((r) => r.metadata.name !== name);
  plan.remove = old.slice(0, Math.max(0, old.length - limit)).map((r) => String(r.metadata.name));
  return plan;
}

export async function applyRevisions(
  reg: Registry,
  revisions: Informer<Stored<ControllerRevision>>,
  owner: Obj,
  hash: string,
  ctx: Ctx,
): Promise<void> {
  const plan = planRevisions(
    owner,
    hash,
    owner.spec?.selector?.matchLabels ?? {},
    revisions.list(owner.metadata.namespace),
  );
  const ns = owner.metadata.namespace;
  if (plan.create) await reg.create(REVISIONS, ns, plan.create, ctx).catch(ignoreGone);
  if (plan.bump) {
    const cur = revisions.get(`${ns}/${plan.bump.name}`);
    if (cur)
      await reg.update(REVISIONS, ns, plan.bump.name, { ...cur, revision: plan.bump.revision }, ctx).catch(ignoreGone);
  }
  for (const n of plan.remove) await reg.delete(REVISIONS, ns, n, {}, ctx).catch(ignoreGone);
}
