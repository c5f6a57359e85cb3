// The container a pods/log, exec or attach request means: the one named, or the only one.
import { badRequest } from '../status.ts';
import type { Pod } from '../../shared/kube/index.ts';

export function containerOf(pod: Pod, named: string | null): string {
  const containers = pod.spec?.containers ?? [];
  if (!named) {
    if (containers.length !== 1)
      throw badRequest(
        `a container name must be specified for pod ${pod.metadata.name}, choose one of: ` +
          `[${containers.map((c) => c.name).join(' ')}]`,
      );
    return containers[0].name;
  }
  const all = [...(pod.spec?.initContainers ?? []), ...containers, ...(pod.spec?.ephemeralContainers ?? [])];
  if (!all.some((c) => c.name === named))
    throw badRequest(`container ${named} is not valid for pod ${pod.metadata.name}`);
  return named;
}
