// The agent end of the reverse tunnel: dials the server, says which node it is, and answers
// requests coming down the stream (container logs; exec, attach and port-forward sessions,
// whose client frames follow the request as data), reconnecting with back-off.
import * as grpc from '@grpc/grpc-js';
import { loadChannelPackage, type NodeChannelClient, type TunnelFrame } from '../controlplane/channel/messages.ts';
import { LogError, streamLogs, type LogRequest } from './kubelet/logs.ts';
import type { CriClient } from './cri/client.ts';
import {
  type ExecRequest,
  type PortForwardRequest,
  startExec,
  startPortForward,
  type StreamSession,
} from './streaming/session.ts';

/** What the server asks for down the tunnel (request_json of a request frame). */
type TunnelRequest = (LogRequest & { type: 'logs' }) | ExecRequest | PortForwardRequest;

export class TunnelClient {
  private client: NodeChannelClient;
  private call: grpc.ClientDuplexStream<TunnelFrame, TunnelFrame> | null = null;
  private stopped = false;
  private backoff = 500;
  private active = new Map<string, { stop: boolean; session?: StreamSession; pending: Buffer[] }>();
  private o: { node: string; token: string; logRoot: string; cri: CriClient; log: (s: string) => void };
  /** host:port of every server's channel (comma-separated): the next is dialled when one fails. */
  private targets: string[];
  private at = 0;
  private ca: string;

  constructor(target: string, ca: string, o: TunnelClient['o']) {
    this.targets = target.split(',');
    this.ca = ca;
    this.client = this.dial();
    this.o = o;
  }

  private dial(): NodeChannelClient {
    const pkg = loadChannelPackage();
    return new pkg.NodeChannel(this.targets[this.at], grpc.credentials.createSsl(Buffer.from(this.ca)), {
      'grpc.ssl_target_name_override': 'kubernetes',
      'grpc.default_authority': 'kubernetes',
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
    });
  }

  start() {
    this.connect();
  }

  private connect() {
    if (this.stopped) return;
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${this.o.token}`);
    const call = this.client.Tunnel(md);
    this.call = call;
    call.write({ kind: 'hello', node_name: this.o.node });
    call.on('data', (f: TunnelFrame) => {
      this.backoff = 500;
      void this.handle(call, f);
    });
    const retry = () => {
      if (this.stopped || this.call !== call) return;
      this.call = null;
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10_000);
    };
    call.on('error', (e: grpc.ServiceError) => {
      if (e.code !== grpc.status.CANCELLED) this.o.log(`tunnel: ${e.details || e.message}`);
      if (e.code === grpc.status.UNAVAILABLE && this.targets.length > 1 && this.call === call && !this.stopped) {
        this.at = (this.at + 1) % this.targets.length;
        this.client.close();
        this.client = this.dial();
        this.o.log(`tunnel: now using ${this.targets[this.at]}`);
      }
      retry();
    });
    call.on('end', retry);
  }

  private async handle(call: grpc.ClientDuplexStream<TunnelFrame, TunnelFrame>, f: TunnelFrame) {
    const id = f.stream_id ?? '';
    const a = this.active.get(id);
    if (f.kind === 'end') {
      if (a) {
        a.stop = true;
        a.session?.close();
      }
      return;
    }
    if (f.kind === 'data') {
      const b = Buffer.from(f.data ?? []);
      if (a?.session) a.session.input(b);
      else a?.pending.push(b);
      return;
    }
    if (f.kind !== 'request') return;
    const state: { stop: boolean; session?: StreamSession; pending: Buffer[] } = { stop: false, pending: [] };
    this.active.set(id, state);
    const send = (b: Buffer | string) => call.write({ stream_id: id, kind: 'data', data: Buffer.from(b) });
    try {
      const req = JSON.parse(f.request_json ?? '') as TunnelRequest;
      if (req.type === 'logs') {
        const r = req;
        await streamLogs(
          this.o.logRoot,
          r,
          send,
          () => state.stop || this.stopped,
          async () => {
            const { containers } = await this.o.cri.listContainers({
              label_selector: { 'io.kubernetes.pod.uid': r.uid, 'io.kubernetes.container.name': r.container },
            });
            return containers.some((c) => c.state === 'CONTAINER_RUNNING');
          },
        );
      } else if (req.type === 'exec' || req.type === 'attach' || req.type === 'portforward') {
        const session =
          req.type === 'portforward'
            ? await startPortForward(this.o.cri, req, send)
            : await startExec(this.o.cri, req, send);
        state.session = session;
        for (const b of state.pending.splice(0)) session.input(b);
        if (state.stop) session.close();
        await session.done;
      } else throw new LogError(`unknown request "${(req as { type: unknown }).type}"`);
      call.write({ stream_id: id, kind: 'end' });
    } catch (e) {
      call.write({ stream_id: id, kind: 'error', error: (e as Error).message });
    } finally {
      this.active.delete(id);
    }
  }

  stop() {
    this.stopped = true;
    this.call?.end();
    this.client.close();
  }
}
