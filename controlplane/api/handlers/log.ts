// GET pods/NAME/log: asks the agent of the pod's node over its tunnel and streams the answer.
import { boolParam, intParam } from '../http.ts';
import { badRequest, serviceUnavailable } from '../status.ts';
import type { Pod } from '../../shared/kube/index.ts';
import type { Call } from './call.ts';
import { containerOf } from './container.ts';

export async function podLog(call: Call): Promise<void> {
  const { req, res, route, q, api } = call;
  const pod = (await api.registry.get(route.res, route.namespace, route.name!)) as Pod;
  const node = pod.spec?.nodeName;
  if (!node) throw badRequest(`pod ${route.name} does not have a host assigned`);
  const container = containerOf(pod, q.get('container'));
  if (!api.tunnels?.connected(node)) throw serviceUnavailable(`no agent connection to node "${node}"`);
  const stream = api.tunnels.request(node, {
    type: 'logs',
    namespace: route.namespace,
    name: route.name,
    uid: pod.metadata.uid,
    container,
    follow: boolParam(q, 'follow'),
    previous: boolParam(q, 'previous'),
    timestamps: boolParam(q, 'timestamps'),
    tailLines: intParam(q, 'tailLines'),
    sinceSeconds: intParam(q, 'sinceSeconds'),
    sinceTime: q.get('sinceTime') ?? undefined,
    limitBytes: intParam(q, 'limitBytes'),
  });
  let started = false;
  const begin = () => {
    if (!started) {
      started = true;
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
    }
  };
  stream.onData((b) => {
    begin();
    res.write(b);
  });
  req.on('close', () => stream.cancel());
  try {
    await stream.done;
    begin();
    res.end();
  } catch (e) {
    if (started) {
      res.end();
      return;
    }
    throw badRequest((e as Error).message);
  }
}
