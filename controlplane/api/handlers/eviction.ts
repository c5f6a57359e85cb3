// create pods/NAME/eviction: a delete that PodDisruptionBudgets may refuse (429, which kubectl
// drain retries) while a budget covering the pod has no disruption left.
import { blockingBudget, budgetStatus } from '../../controllers/disruption.ts';
import { findResource } from '../resources.ts';
import { ApiError } from '../status.ts';
import type { Pod, PodDisruptionBudget } from '../../shared/kube/index.ts';
import { authorizeRoute, type Call } from './call.ts';
import { requestBody } from './body.ts';
import { created } from './respond.ts';

/** The part of an Eviction body the server reads. */
interface Eviction {
  deleteOptions?: { gracePeriodSeconds?: number };
}

export async function evict(call: Call): Promise<void> {
  const { route, ctx } = call;
  const { res: pods, namespace, name } = route;
  const reg = call.api.registry;
  const body = (await requestBody(call.req)) as Eviction | null;
  authorizeRoute(call.user, route, 'create');
  const pod = (await reg.get(pods, namespace, name!)) as Pod;
  const pdbRes = findResource('policy', 'v1', 'poddisruptionbudgets')!;
  const pdbs = (await reg.list(pdbRes, namespace, { labels: [], fields: [] })).items as PodDisruptionBudget[];
  if (pdbs.length && !pod.metadata.deletionTimestamp) {
    const all = (await reg.list(pods, namespace, { labels: [], fields: [] })).items as Pod[];
    const blocking = blockingBudget(pod, pdbs, all);
    if (blocking) {
      const st = budgetStatus(blocking, all);
      throw new ApiError(429, 'TooManyRequests', "Cannot evict pod as it would violate the pod's disruption budget.", {
        causes: [
          {
            reason: 'DisruptionBudget',
            message:
              `The disruption budget ${blocking.metadata.name} needs ${st.desiredHealthy} healthy ` +
              `pods and has ${st.currentHealthy} currently`,
          },
        ],
      });
    }
  }
  await reg.delete(pods, namespace, name!, { gracePeriodSeconds: body?.deleteOptions?.gracePeriodSeconds }, ctx);
  created(call);
}
