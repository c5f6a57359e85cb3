// kubectl's side of port-forward: SPDY/3.1 (tunnelled in WebSocket binary messages, or on an
// upgraded connection). kubectl opens an error stream and a data stream per forwarded
// connection, paired by requestID; each pair becomes one tunnel session to the pod's agent,
// which dials the port through CRI PortForward. Tunnel frames: channel 0 data, 1 error text,
// 255 = the client closed its sending side.
import { SpdySession, type SpdyStream } from '../shared/spdy.ts';
import type { TunnelStream } from '../channel/tunnel.ts';

export const PORTFORWARD_TUNNEL_PROTOCOL = 'SPDY/3.1+portforward.k8s.io';

interface Pair {
  error?: SpdyStream;
  data?: SpdyStream;
  tunnel?: TunnelStream;
}

/** Serves one kubectl port-forward connection; returns a function to feed it bytes and one to close it. */
export function servePortForward(
  send: (b: Buffer) => void,
  open: (port: number) => TunnelStream,
  log: (s: string) => void,
) {
  const session = new SpdySession(send, 'server');
  const pairs = new Map<string, Pair>();
  session.onStream = (s) => {
    s.accept();
    const type = s.headers.streamtype;
    const port = Number(s.headers.port);
    const key = s.headers.requestid ?? '';
    if ((type !== 'error' && type !== 'data') || !Number.isInteger(port) || port < 1 || port > 65535) {
      s.write(Buffer.from(`invalid port-forward stream: type "${type}" port "${s.headers.port}"`));
      s.end();
      return;
    }
    const p = pairs.get(key) ?? {};
    pairs.set(key, p);
    p[type] = s;
    if (!p.error || !p.data) return;
    const { error, data } = p;
    const t = open(port);
    p.tunnel = t;
    t.onData((b) => {
      if (b[0] === 0) data.write(b.subarray(1));
      else if (b[0] === 1) error.write(b.subarray(1));
    });
    data.onData = (d) => t.send(Buffer.concat([Buffer.from([0]), d]));
    data.onEnd = (reset) => {
      if (reset) t.cancel();
      else t.send(Buffer.from([255, 0]));
    };
    const finish = () => {
      pairs.delete(key);
      data.end();
      error.end();
    };
    t.done.then(finish, (e: Error) => {
      log(`port-forward to port ${port}: ${e.message}`);
      error.write(Buffer.from(`error forwarding port ${port}: ${e.message}`));
      finish();
    });
  };
  const close = () => {
    for (const p of pairs.values()) p.tunnel?.cancel();
    pairs.clear();
    session.close();
  };
  session.onClose = close;
  return { feed: (b: Buffer) => session.feed(b), close };
}
