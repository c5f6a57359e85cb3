// The agent's end of an exec, attach or port-forward session: it asks CRI for a streaming URL,
// dials the runtime over SPDY, and relays channel frames (first byte = channel, as in the
// Kubernetes channel protocol) between the tunnel and the runtime's streams.
import { readFileSync } from 'node:fs';
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

const SUCCESS = frame(CH.error, Buffer.from(JSON.stringify({ metadata: {}, status: 'Success' })));

/** What a container wrote, from its CRI log, as attach output frames. */
async function replayOutput(cri: CriClient, id: string, r: ExecRequest, send: (frame: Buffer) => void) {
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
}

/** The output the container's log holds after what an attach relayed (see missingTail). */
async function sendMissingTail(
  cri: CriClient,
  id: string,
  r: ExecRequest,
  seen: Record<number, Buffer>,
  send: (frame: Buffer) => void,
) {
  try {
    const st = (await cri.containerStatus(id)).status;
    const { stdout, stderr } = criLogStreams(readFileSync(String(st.log_path ?? ''), 'utf8'));
    const out = missingTail(stdout, seen[CH.stdout]?.toString('utf8') ?? '');
    if (r.stdout && out) send(frame(CH.stdout, Buffer.from(out)));
    const err = r.tty ? '' : missingTail(stderr, seen[CH.stderr]?.toString('utf8') ?? '');
    if (r.stderr && err) send(frame(CH.stderr, Buffer.from(err)));
  } catch {
    /* no log to complete from: what came through stays all */
  }
}

/**
 * Attach to a container that has already exited (kubectl run -i of a short command): what it
 * wrote, then a clean end, as an attach that saw the end (the exit code is in the pod's status).
 */
async function replayExited(cri: CriClient, id: string, r: ExecRequest, send: (frame: Buffer) => void) {
  await replayOutput(cri, id, r, send);
  send(SUCCESS);
  return { input() {}, close() {}, done: Promise.resolve() };
}

/**
 * What the log holds after the output an attach relayed, when the attach ended before it: the
 * runtime can close an attach at the container's exit before its last writes reach it. '' when
 * nothing is missing, or when the relayed output is not found in the log (rotated, or cut).
 */
export function missingTail(log: string, relayed: string): string {
  if (!relayed || log.endsWith(relayed)) return '';
  const at = log.lastIndexOf(relayed);
  return at < 0 ? '' : log.slice(at + relayed.length);
}

/** The end of the output an attach relayed that missingTail looks for in the log. */
const RELAYED_KEPT = 64 * 1024;

/** An attach that ends this soon without any output most likely missed a short command's output. */
const QUICK_END_MS = 3000;

class Exited extends Error {}

/** Whether the container is (or within ms becomes) exited. */
async function exitsWithin(cri: CriClient, id: string, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    const st = await cri.containerStatus(id).catch(() => null);
    if (st?.status?.state === 'CONTAINER_EXITED') return true;
    if (Date.now() > end) return false;
    await new Promise((res) => setTimeout(res, 100));
  }
}

export async function startExec(cri: CriClient, r: ExecRequest, send: (frame: Buffer) => void): Promise<StreamSession> {
  if (r.type !== 'attach') return startStreams(cri, r, send);
  const latest = await latestContainer(cri, r.uid, r.container);
  if (latest?.state === 'CONTAINER_EXITED') return replayExited(cri, latest.id, r, send);
  try {
    return await startStreams(cri, r, send);
  } catch (e) {
    // It exited between the look and the attach (the runtime has no task to attach to).
    const st = latest ? await cri.containerStatus(latest.id).catch(() => null) : null;
    if (st?.status?.state === 'CONTAINER_EXITED') return replayExited(cri, latest.id, r, send);
    throw e;
  }
}

async function startStreams(cri: CriClient, r: ExecRequest, send: (frame: Buffer) => void): Promise<StreamSession> {
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
    const attach = r.type === 'attach';
    const t0 = Date.now();
    let relayed = false;
    const seen: Record<number, Buffer> = {}; // the end of what each output stream relayed
    const held: Buffer[] = []; // an attach's error channel, sent at its end (after any replay)
    const opening = Promise.all(
      want.map(async ([type, ch]) => {
        const s = await conn.session.open({ streamType: type });
        streams.set(ch, s);
        if (ch === CH.error) s.onData = (d) => (attach ? held.push(frame(ch, d)) : send(frame(ch, d)));
        else if (ch === CH.stdout || ch === CH.stderr)
          s.onData = (d) => {
            relayed = true;
            const all = seen[ch] ? Buffer.concat([seen[ch], d]) : d;
            seen[ch] = all.length > RELAYED_KEPT ? all.subarray(all.length - RELAYED_KEPT) : all;
            send(frame(ch, d));
          };
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
        // The runtime resets the streams or drops the connection of an attach to a container that
        // has just exited: that is an exit too, not an error, when the container says so.
        if (!(e instanceof Exited) && !(await exitsWithin(cri, id, 2000))) throw e;
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
      done: attach
        ? conn.closed.then(async () => {
            // Attached to a command that had already written everything and exited at once: show
            // what it wrote, from its log (nothing came through the attach, so nothing twice).
            // (The runtime may say on the error channel that it found no task to attach to.)
            if (!relayed && Date.now() - t0 < QUICK_END_MS && (await exitsWithin(cri, id, 2000))) {
              await replayOutput(cri, id, r, send).catch(() => {});
              return send(SUCCESS);
            }
            // Ended with the container: what it wrote last may not have come through the attach.
            if (relayed && (await exitsWithin(cri, id, 500))) await sendMissingTail(cri, id, r, seen, send);
            for (const f of held.length ? held : [SUCCESS]) send(f);
          })
        : conn.closed,
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
