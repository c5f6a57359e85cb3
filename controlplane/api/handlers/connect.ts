// connect (pods/NAME/exec, attach and portforward): an upgraded connection (WebSocket, or SPDY
// for port-forward) relayed through the tunnel of the pod's node to its agent, which streams
// through CRI. The server has authenticated, routed and authorized the request.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { Tunnels } from '../../channel/tunnel.ts';
import { EXEC_PROTOCOLS, relayExec } from '../../streaming/exec.ts';
import { PORTFORWARD_TUNNEL_PROTOCOL, servePortForward } from '../../streaming/portforward.ts';
import { boolParam } from '../http.ts';
import type { Registry } from '../registry.ts';
import type { Resource } from '../resources.ts';
import { badRequest, serviceUnavailable } from '../status.ts';
import type { Pod } from '../../shared/kube/index.ts';
import { containerOf } from './container.ts';

export type ConnectSub = 'exec' | 'attach' | 'portforward';
export const CONNECT_SUBRESOURCES: readonly string[] = ['exec', 'attach', 'portforward'];

/** The WebSocket side of connect requests: it picks the protocol the subresource speaks. */
export function connectSockets(): WebSocketServer {
  return new WebSocketServer({
    noServer: true,
    handleProtocols: (offered, req) => {
      const want = (req.url ?? '').split('?')[0].endsWith('/portforward')
        ? [PORTFORWARD_TUNNEL_PROTOCOL]
        : EXEC_PROTOCOLS;
      return want.find((p) => offered.has(p)) ?? false;
    },
  });
}

export interface ConnectCall {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  pods: Resource;
  namespace: string;
  name: string;
  sub: ConnectSub;
  q: URLSearchParams;
  registry: Registry;
  tunnels: Tunnels | null;
  wss: WebSocketServer;
}

export async function connect(call: ConnectCall): Promise<void> {
  const { req, socket, head, sub, q, wss, namespace, name } = call;
  const pod = (await call.registry.get(call.pods, namespace, name)) as Pod;
  const node = pod.spec?.nodeName;
  if (!node) throw badRequest(`pod ${name} does not have a host assigned`);
  const phase = pod.status?.phase;
  // Attach to a finished pod is answered by its node from the container's log (a short
  // `kubectl run --rm -i` often ends before kubectl attaches); exec and port-forward need it running.
  if ((phase === 'Succeeded' || phase === 'Failed') && sub !== 'attach')
    throw badRequest(
      `cannot ${sub === 'portforward' ? 'port-forward to' : sub + ' into'} a container in a completed pod;` +
        ` current phase is ${phase}`,
    );
  const tunnels = call.tunnels;
  if (!tunnels?.connected(node)) throw serviceUnavailable(`no agent connection to node "${node}"`);
  const websocket = String(req.headers.upgrade ?? '').toLowerCase() === 'websocket';
  const uid = pod.metadata.uid;
  if (sub === 'portforward') {
    const open = (port: number) => tunnels.request(node, { type: 'portforward', uid, port });
    const log = (s: string) => console.error(`${namespace}/${name}: ${s}`);
    if (websocket) {
      wss.handleUpgrade(req, socket, head, (ws) => {
        const pf = servePortForward(
          (b) => {
            if (ws.readyState === ws.OPEN) ws.send(b);
          },
          open,
          log,
        );
        ws.on('message', (d: Buffer) => pf.feed(Buffer.from(d)));
        ws.on('close', pf.close);
        ws.on('error', pf.close);
      });
      return;
    }
    if (String(req.headers.upgrade ?? '').toLowerCase() !== 'spdy/3.1')
      throw badRequest('port-forward needs a WebSocket or SPDY/3.1 upgrade');
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ' +
        'SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n',
    );
    const pf = servePortForward(
      (b) => {
        if (!socket.destroyed) socket.write(b);
      },
      open,
      log,
    );
    socket.on('data', (d: Buffer) => pf.feed(d));
    socket.on('close', pf.close);
    if (head.length) pf.feed(head);
    return;
  }
  const container = containerOf(pod, q.get('container'));
  const command = q.getAll('command');
  if (sub === 'exec' && command.length === 0)
    throw badRequest('you must specify at least one command for the container');
  const stdin = boolParam(q, 'stdin'),
    stdout = boolParam(q, 'stdout'),
    stderr = boolParam(q, 'stderr'),
    tty = boolParam(q, 'tty');
  if (!stdin && !stdout && !stderr) throw badRequest('you must specify at least one of stdin, stdout, stderr');
  if (!websocket) throw badRequest(`${sub} needs a WebSocket upgrade (${EXEC_PROTOCOLS.join(', ')})`);
  wss.handleUpgrade(req, socket, head, (ws) => {
    relayExec(ws, tunnels.request(node, { type: sub, uid, container, command, stdin, stdout, stderr, tty }));
  });
}
