// The server end of the agents' reverse tunnels: one bidirectional stream per node, over which
// requests (container logs, exec/attach/port-forward sessions) go down and their answers come
// back as data frames; interactive sessions also send the client's frames down as data.
import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import type { TokenAuth } from '../api/auth.ts';
import type { TunnelFrame } from './messages.ts';

type Duplex = grpc.ServerDuplexStream<TunnelFrame, TunnelFrame>;

export interface TunnelStream {
  onData(fn: (b: Buffer) => void): void;
  /** Sends a frame of the client's to the agent's side of this stream. */
  send(b: Buffer): void;
  done: Promise<void>;
  cancel(): void;
}

export class TunnelError extends Error {}

/** A request sent down a node's tunnel: `type` (logs, exec, attach, portforward) says what the agent does. */
export interface TunnelRequest {
  type: string;
  [field: string]: unknown;
}

export class Tunnels {
  private byNode = new Map<string, Duplex>();
  private streams = new Map<string, { data: (b: Buffer) => void; end: () => void; fail: (e: Error) => void }>();
  private auth: TokenAuth;
  private closing = false;
  /** Told when a node's agent connects (true) or its connection drops (false). */
  onPresence?: (node: string, connected: boolean) => void;
  constructor(auth: TokenAuth) {
    this.auth = auth;
  }

  handle(call: Duplex) {
    const user = this.auth.authenticate(String(call.metadata.get('authorization')[0] ?? ''));
    let node = '';
    call.on('data', (f: TunnelFrame) => {
      if (f.kind === 'hello') {
        if (!user || user.name !== `system:node:${f.node_name}`) {
          call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: 'a node may only open its own tunnel' });
          return;
        }
        node = f.node_name ?? '';
        this.byNode.get(node)?.end();
        this.byNode.set(node, call);
        this.onPresence?.(node, true);
        return;
      }
      const s = this.streams.get(f.stream_id ?? '');
      if (!s) return;
      if (f.kind === 'data') s.data(Buffer.from(f.data ?? []));
      else if (f.kind === 'end') s.end();
      else if (f.kind === 'error') s.fail(new TunnelError(f.error || 'agent error'));
    });
    const gone = () => {
      if (!node || this.byNode.get(node) !== call) return;
      this.byNode.delete(node);
      // A server shutting down says nothing: its agents are not gone, they move to another server.
      if (!this.closing) this.onPresence?.(node, false);
    };
    call.on('end', () => {
      gone();
      call.end();
    });
    call.on('error', gone);
    call.on('cancelled', gone);
  }

  connected(node: string) {
    return this.byNode.has(node);
  }

  /** Sends a request to a node's agent; the answer arrives as data, then done resolves. */
  request(node: string, req: TunnelRequest): TunnelStream {
    const call = this.byNode.get(node);
    if (!call) throw new TunnelError(`no agent connection to node "${node}"`);
    const id = randomUUID();
    const listeners: ((b: Buffer) => void)[] = [];
    let resolveDone!: () => void, rejectDone!: (e: Error) => void;
    const done = new Promise<void>((res, rej) => {
      resolveDone = res;
      rejectDone = rej;
    });
    const cleanup = () => this.streams.delete(id);
    this.streams.set(id, {
      data: (b) => {
        for (const l of listeners) l(b);
      },
      end: () => {
        cleanup();
        resolveDone();
      },
      fail: (e) => {
        cleanup();
        rejectDone(e);
      },
    });
    call.write({ stream_id: id, kind: 'request', request_json: JSON.stringify(req) });
    return {
      onData: (fn) => listeners.push(fn),
      send: (b) => {
        if (this.streams.has(id)) call.write({ stream_id: id, kind: 'data', data: b });
      },
      done,
      cancel: () => {
        if (this.streams.has(id)) {
          call.write({ stream_id: id, kind: 'end' });
          cleanup();
          resolveDone();
        }
      },
    };
  }

  close() {
    this.closing = true;
    for (const c of this.byNode.values()) c.end();
    this.byNode.clear();
  }
}
