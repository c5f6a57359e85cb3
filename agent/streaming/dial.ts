// Connects to the runtime's streaming server (the one-time URL a CRI Exec, Attach or
// PortForward call returns) and upgrades the connection to SPDY/3.1, as kubelet does.
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { SpdySession } from '../../controlplane/shared/spdy.ts';

export interface StreamConnection {
  session: SpdySession;
  protocol: string;
  /** Resolves when the connection is gone. */
  closed: Promise<void>;
  close(): void;
}

export function dialSpdy(url: string, protocols: string[], timeoutMs = 10_000): Promise<StreamConnection> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': protocols },
      timeout: timeoutMs,
    });
    req.on('timeout', () => req.destroy(new Error(`streaming server did not answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => reject(new Error(`streaming server refused the upgrade: ${res.statusCode} ${body.trim()}`)));
    });
    req.on('upgrade', (res, socket: Socket, head: Buffer) => {
      socket.setTimeout(0);
      const session = new SpdySession((b) => {
        if (!socket.destroyed) socket.write(b);
      }, 'client');
      let lost: Error | undefined;
      const closed = new Promise<void>((r) =>
        socket.on('close', () => {
          // A stream still waiting for its reply fails with this at once, not after its timeout.
          session.close(new Error(`the streaming connection closed${lost ? `: ${lost.message}` : ''}`));
          r();
        }),
      );
      socket.on('error', (e) => {
        lost = e;
        socket.destroy();
      });
      socket.on('data', (d: Buffer) => session.feed(d));
      session.onClose = () => socket.destroy();
      if (head.length) session.feed(head);
      resolve({
        session,
        protocol: String(res.headers['x-stream-protocol-version'] ?? ''),
        closed,
        close: () => socket.destroy(),
      });
    });
    req.end();
  });
}
