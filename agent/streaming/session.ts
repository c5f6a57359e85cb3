// The agent's end of an exec, attach or port-forward session: it asks CRI for a streaming URL,
// dials the runtime over SPDY, and relays channel frames (first byte = channel, as in the
// Kubernetes channel protocol) between the tunnel and the runtime's streams.
import type { CriClient } from '../cri/client.ts';
import type { SpdyStream } from '../../controlplane/shared/spdy.ts';
import { dialSpdy, type StreamConnection } from './dial.ts';

export const CH = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;
export const PF = { data: 0, error: 1 } as const;

export interface ExecRequest {
  type: 'exec' | 'attach';
  uid: string;
  container: string;
  command?: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

export interface PortForwardRequest {
  type: 'portforward';
  uid: string;
  port: number;
}

export interface StreamSession {
  /** A frame from the client: channel byte, then payload. */
  input(frame: Buffer): void;
  /** Ends the session from the client's side. */
  close(): void;
  done: Promise<void>;
}

export class StreamRequestError extends Error {}

const frame = (ch: number, b: Buffer) => Buffer.concat([Buffer.from([ch]), b]);

async function runningContainer(cri: CriClient, uid: string, name: string): Promise<string> {
  const { containers } = await cri.listContainers({
    label_selector: { 'io.kubernetes.pod.uid': uid, 'io.kubernetes.container.name': name },
  });
  const c = containers.find((x) => x.state === 'CONTAINER_RUNNING');
  if (!c) throw new StreamRequestError(`container ${name} is not running`);
  return c.id;
}

export async function startExec(cri: CriClient, r: ExecRequest, send: (frame: Buffer) => void): Promise<StreamSession> {
  const id = await runningContainer(cri, r.uid, r.container);
  const { url } =
    r.type === 'exec'
      ? await cri.exec({
          container_id: id,
          cmd: r.command ?? [],
          tty: r.tty,
          stdin: r.stdin,
          stdout: r.stdout,
          stderr: r.stderr && !r.tty,
        })
      : await cri.attach({
          container_id: id,
          tty: r.tty,
          stdin: r.stdin,
          stdout: r.stdout,
          stderr: r.stderr && !r.tty,
        });
  const conn = await dialSpdy(url, ['v4.channel.k8s.io']);
  try {
    // The runtime waits for exactly the streams the request named.
    const want: [string, number][] = [['error', CH.error]];
    if (r.stdin) want.push(['stdin', CH.stdin]);
    if (r.stdout) want.push(['stdout', CH.stdout]);
    if (r.stderr && !r.tty) want.push(['stderr', CH.stderr]);
    if (r.tty) want.push(['resize', CH.resize]);
    const streams = new Map<number, SpdyStream>();
    await Promise.all(
      want.map(async ([type, ch]) => {
        const s = await conn.session.open({ streamType: type });
        streams.set(ch, s);
        if (ch === CH.stdout || ch === CH.stderr || ch === CH.error) s.onData = (d) => send(frame(ch, d));
      }),
    );
    return {
      input(f) {
        if (f.length === 0) return;
        if (f[0] === CH.close) {
          if (f.length > 1) streams.get(f[1])?.end();
          return;
        }
        const s = streams.get(f[0]);
        if (s && (f[0] === CH.stdin || f[0] === CH.resize)) s.write(f.subarray(1));
      },
      close: () => conn.close(),
      done: conn.closed,
    };
  } catch (e) {
    conn.close();
    throw e;
  }
}

export async function startPortForward(
  cri: CriClient,
  r: PortForwardRequest,
  send: (frame: Buffer) => void,
): Promise<StreamSession> {
  const { items } = await cri.listPodSandbox({
    label_selector: { 'io.kubernetes.pod.uid': r.uid },
    state: { state: 'SANDBOX_READY' },
  });
  if (!items.length) throw new StreamRequestError(`pod sandbox for uid ${r.uid} is not ready`);
  const { url } = await cri.portForward(items[0].id, r.port);
  const conn: StreamConnection = await dialSpdy(url, ['portforward.k8s.io']);
  try {
    const headers = { port: String(r.port), requestID: '0' };
    const error = await conn.session.open({ streamType: 'error', ...headers });
    error.end();
    const data = await conn.session.open({ streamType: 'data', ...headers });
    error.onData = (d) => send(frame(PF.error, d));
    data.onData = (d) => send(frame(PF.data, d));
    // The pod closed its side: the session is over once the error stream said its piece.
    data.onEnd = () => {
      setTimeout(() => conn.close(), 100);
    };
    return {
      input(f) {
        if (f.length === 0) return;
        if (f[0] === CH.close) data.end();
        else if (f[0] === PF.data) data.write(f.subarray(1));
      },
      close: () => conn.close(),
      done: conn.closed,
    };
  } catch (e) {
    conn.close();
    throw e;
  }
}
