// The agent's end of an exec, attach or port-forward session: it asks CRI for a streaming URL,
// dials the runtime over SPDY, and relays channel frames (first byte = channel, as in the
// Kubernetes channel protocol) between the tunnel and the runtime's streams.
import { readFileSync } from 'node:fs';
import type { CriClient } from '../cri/client.ts';
import type { SpdyStream } from '../../controlplane/streaming/spdy.ts';
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

/** The newest instance of a pod's container, in any state. */
async function latestContainer(cri: CriClient, uid: string, name: string) {
  const { containers } = await cri.listContainers({
    label_selector: { 'io.kubernetes.pod.uid': uid, 'io.kubernetes.container.name': name },
  });
  return containers.sort((a, b) => Number(b.metadata?.attempt ?? 0) - Number(a.metadata?.attempt ?? 0))[0];
}

/** Splits a CRI log file ("time stream P|F text" lines) into each stream's bytes. Pure. */
export function criLogStreams(text: string): { stdout: string; stderr: string } {
  const out = { stdout: '', stderr: '' };
  for (const line of text.split('\n')) {
    const m = line.match(/^\S+ (stdout|stderr) ([PF])(?: (.*))?$/);
    if (m) out[m[1] as 'stdout' | 'stderr'] += (m[3] ?? '') + (m[2] === 'F' ? '\n' : '');
  }
  return out;
}

/**
 * Attach to a container that has already exited (kubectl run -i of a short command): what it
 * wrote, from its log, then a clean end.
 */
async function replayExited(cri: CriClient, id: string, r: ExecRequest, send: (frame: Buffer) => void) {
  const st = (await cri.containerStatus(id)).status;
  let text = '';
  try {
    text = readFileSync(String(st.log_path ?? ''), 'utf8');
  } catch {
    /* no log (never started): nothing to show */
  }
  const { stdout, stderr } = criLogStreams(text);
  if (r.stdout && stdout) send(frame(CH.stdout, Buffer.from(stdout)));
  if (r.stderr && stderr) send(frame(r.tty ? CH.stdout : CH.stderr, Buffer.from(stderr)));
  // As an attach that saw the end: a clean finish; the exit code is in the pod's status.
  const status = { metadata: {}, status: 'Success' };
  send(frame(CH.error, Buffer.from(JSON.stringify(status))));
  return { input() {}, close() {}, done: Promise.resolve() };
}

class Exited extends Error {}

export async function startExec(cri: CriClient, r: ExecRequest, send: (frame: Buffer) => void): Promise<StreamSession> {
  if (r.type === 'attach') {
    const latest = await latestContainer(cri, r.uid, r.container);
    if (latest?.state === 'CONTAINER_EXITED') return replayExited(cri, latest.id, r, send);
  }
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
    const opening = Promise.all(
      want.map(async ([type, ch]) => {
        const s = await conn.session.open({ streamType: type });
        streams.set(ch, s);
        if (ch === CH.stdout || ch === CH.stderr || ch === CH.error) s.onData = (d) => send(frame(ch, d));
      }),
    );
    if (r.type === 'attach') {
      // A container that exits while the streams are set up never answers them: watch for the
      // exit, and show what it wrote instead of waiting for the streams' timeout.
      let watching = true;
      const exited = (async () => {
        while (watching) {
          await new Promise((res) => setTimeout(res, 100));
          const st = await cri.containerStatus(id).catch(() => null);
          if (watching && st?.status?.state === 'CONTAINER_EXITED') throw new Exited();
        }
      })();
      try {
        await Promise.race([opening, exited]);
      } catch (e) {
        if (!(e instanceof Exited)) throw e;
        opening.catch(() => {});
        conn.close();
        return replayExited(cri, id, r, send);
      } finally {
        watching = false;
        exited.catch(() => {});
      }
    } else await opening;
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
