// kubectl's side of exec and attach: a WebSocket speaking the Kubernetes channel protocol
// (v5.channel.k8s.io, or v4 without the close signal), relayed frame by frame through the
// agent's tunnel. The agent answers with the same channel frames; the error channel carries
// the final Status, after which the WebSocket closes normally.
import type { WebSocket } from 'ws';
import type { TunnelStream } from '../channel/tunnel.ts';

export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
const ERROR_CHANNEL = 3;

export function relayExec(ws: WebSocket, stream: TunnelStream) {
  ws.on('message', (data: Buffer, binary: boolean) => {
    if (binary) stream.send(Buffer.from(data));
  });
  ws.on('close', () => stream.cancel());
  ws.on('error', () => stream.cancel());
  stream.onData((b) => {
    if (ws.readyState === ws.OPEN) ws.send(b);
  });
  stream.done.then(
    () => ws.close(1000),
    (e: Error) => {
      if (ws.readyState !== ws.OPEN) return;
      const status = {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: e.message,
        reason: 'InternalError',
        code: 500,
      };
      ws.send(Buffer.concat([Buffer.from([ERROR_CHANNEL]), Buffer.from(JSON.stringify(status))]));
      ws.close(1000);
    },
  );
}
