// The fast path for the common request on a client connection: a complete HTTP/1.1 head in
// one read, no body, nothing unusual (h1.ts fastRequest), that routes to a backend with
// endpoints. It is answered straight on the socket, without node:http's per-request objects.
// Anything else (a partial head, a body, an upgrade, a refusal to send: 404/503/308/431/400)
// hands the connection with its unread bytes to node:http, which keeps it from then on, so every
// unusual case is parsed and answered exactly as without the fast path.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Downstream } from './forward.ts';
import { chunk, fastRequest, type FastRequest, LAST_CHUNK } from './h1.ts';

/** What the fast path needs from the proxy. */
export interface FastHost {
  readonly maxHeaderBytes: number;
  readonly maxHeaderCount: number;
  readonly keepAliveTimeoutMs: number;
  /** Forwards the request when it routes to a backend with endpoints; false leaves it to node:http. */
  forwardFast(r: FastRequest, c: FastConn): boolean;
}

/** One client connection while it stays on the fast path; it is also the Downstream of its responses. */
export class FastConn implements Downstream {
  readonly socket: Socket;
  readonly secure: boolean;
  keepAlive = true;
  /** The request being answered (one at a time; pipelined ones wait in `buf`). */
  busy = false;
  private buf?: Buffer;
  private head?: string;
  private chunked = false;
  private noBody = false;
  private method = '';
  private closeCb?: () => void;
  /** Called once when the response in progress ends (true) or the connection went first (false). */
  onDone?: (completed: boolean, status: number) => void;
  status = 0;
  private readonly host: FastHost;
  private readonly handoff: (s: Socket) => void;

  constructor(socket: Socket, secure: boolean, host: FastHost, handoff: (s: Socket) => void) {
    this.socket = socket;
    this.secure = secure;
    this.host = host;
    this.handoff = handoff;
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
    socket.on('timeout', this.onTimeout);
    socket.on('end', this.onEnd);
    socket.setTimeout(host.keepAliveTimeoutMs);
  }

  private readonly onEnd = (): void => {
    // The client finished sending (half-close): answer what is in progress, then close.
    this.keepAlive = false;
    if (!this.busy) {
      if (this.buf) this.next();
      else this.socket.end();
    }
  };

  private readonly onData = (b: Buffer): void => {
    this.buf = this.buf ? Buffer.concat([this.buf, b]) : b;
    if (this.busy) {
      // Pipelined requests wait for the answer in progress; a flood of them waits in the kernel.
      if (this.buf.length > this.host.maxHeaderBytes) this.socket.pause();
      return;
    }
    this.next();
  };

  private readonly onClose = (): void => {
    const cb = this.closeCb;
    this.closeCb = undefined;
    cb?.();
    if (this.busy) this.finish(false);
  };

  private readonly onError = (): void => {};

  private readonly onTimeout = (): void => {
    // Idle keep-alive connections close after the keep-alive time; busy ones are bounded upstream.
    if (!this.busy) this.socket.destroy();
  };

  /** Starts on the next buffered request, or hands the connection over. */
  private next(): void {
    const buf = this.buf;
    if (!buf || this.socket.destroyed) return;
    const end = buf.indexOf('\r\n\r\n', 0, 'latin1');
    const r =
      end >= 0 && end <= this.host.maxHeaderBytes
        ? fastRequest(buf.toString('latin1', 0, end), this.host.maxHeaderCount)
        : undefined;
    if (!r) {
      this.leave();
      return;
    }
    this.busy = true;
    this.method = r.method;
    this.keepAlive = !r.close && !this.socket.readableEnded;
    this.status = 0;
    if (!this.host.forwardFast(r, this)) {
      this.busy = false;
      this.leave();
      return;
    }
    this.buf = end + 4 < buf.length ? buf.subarray(end + 4) : undefined;
  }

  /** node:http takes the connection with every byte not consumed yet. */
  private leave(): void {
    const s = this.socket;
    s.pause();
    s.off('data', this.onData);
    s.off('close', this.onClose);
    s.off('error', this.onError);
    s.off('timeout', this.onTimeout);
    s.off('end', this.onEnd);
    s.setTimeout(0);
    if (this.buf) s.unshift(this.buf);
    this.buf = undefined;
    this.handoff(s);
    s.resume();
  }

  private finish(completed: boolean): void {
    this.busy = false;
    const done = this.onDone;
    this.onDone = undefined;
    done?.(completed, this.status);
    if (!completed) return;
    if (!this.keepAlive) {
      this.socket.end();
      return;
    }
    this.socket.resume();
    if (this.buf) this.next();
  }

  // Downstream
  get destroyed(): boolean {
    return this.socket.destroyed;
  }

  writeHead(status: number, reason: string, headers: string[]): void {
    // The fields come from h1.ts's parser (token names, no control characters): safe to write.
    let head = `HTTP/1.1 ${status} ${reason || STATUS_CODES[status] || 'unknown'}\r\n`;
    let length = false;
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i] === 'content-length') length = true;
      head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    }
    this.noBody = this.method === 'HEAD' || status === 204 || status === 304;
    this.chunked = !this.noBody && !length;
    if (this.chunked) head += 'transfer-encoding: chunked\r\n';
    this.head = `${head}connection: ${this.keepAlive ? 'keep-alive' : 'close'}\r\n\r\n`;
    this.status = status;
  }

  write(data: Buffer): boolean {
    const s = this.socket;
    s.cork();
    this.flushHead();
    let ok = true;
    if (!this.noBody && data.length) {
      if (this.chunked) for (const p of chunk(data)) ok = s.write(p) && ok;
      else ok = s.write(data);
    }
    s.uncork();
    return ok;
  }

  end(last?: Buffer): void {
    const s = this.socket;
    if (this.head !== undefined && !this.chunked) {
      // The common case, a whole response at once: head and body in one buffer, one write.
      const body = this.noBody || !last ? 0 : last.length;
      const out = Buffer.allocUnsafe(Buffer.byteLength(this.head, 'latin1') + body);
      const n = out.write(this.head, 0, 'latin1');
      if (body) (last as Buffer).copy(out, n);
      this.head = undefined;
      s.write(out);
      this.closeCb = undefined;
      this.finish(true);
      return;
    }
    s.cork();
    this.flushHead();
    if (!this.noBody) {
      if (last?.length) {
        if (this.chunked) for (const p of chunk(last)) s.write(p);
        else s.write(last);
      }
      if (this.chunked) s.write(LAST_CHUNK);
    }
    s.uncork();
    this.closeCb = undefined;
    this.finish(true);
  }

  flushHead(): void {
    if (this.head === undefined) return;
    this.socket.write(this.head, 'latin1');
    this.head = undefined;
  }

  once(event: 'drain' | 'close', cb: () => void): void {
    if (event === 'drain') this.socket.once('drain', cb);
    else this.closeCb = cb;
  }

  off(event: 'drain' | 'close', cb: () => void): void {
    if (event === 'drain') this.socket.off('drain', cb);
    else if (this.closeCb === cb) this.closeCb = undefined;
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** A short answer of the proxy's own; the connection closes after it. */
  reply(status: number, text: string): void {
    const body = `${text}\n`;
    this.keepAlive = false;
    this.writeHead(status, '', ['content-type', 'text/plain; charset=utf-8', 'content-length', String(body.length)]);
    this.end(Buffer.from(body));
  }
}
