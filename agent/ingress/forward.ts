// One request forwarded over a pooled upstream connection: the head written in one piece, the body
// streamed (Content-Length as is, chunked re-coded), the response parsed by h1.ts and written to
// the client (a Downstream: node:http's ServerResponse, or the fast path's own connection) with
// backpressure both ways. Ends in exactly one of: the response delivered (connection back to the
// pool), or `failed` with an error code before any response byte reached the client, or the
// client response destroyed.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { chunk, H1Error, LAST_CHUNK, type RequestBody, type ResponseHead } from './h1.ts';
import { stripHopByHopList } from './headers.ts';
import type { Conn, ConnUser, UpstreamPool } from './upstreams.ts';
import type { Upstream } from './routes.ts';

export interface ExchangeOptions {
  connectTimeoutMs: number;
  readTimeoutMs: number;
  /** Request body limit in bytes (0: none); over it the exchange ends with `body-limit`. */
  maxBodyBytes: number;
}

export interface Failure {
  /** A Node error code, `ECONNECT_TIMEOUT`, `ETIMEDOUT` (read timeout), `EPROTO` (bad response). */
  code: string;
  /** The connection had carried an earlier request and failed before any response byte. */
  stale: boolean;
}

/** Where the response goes. */
export interface Downstream {
  /** The client connection stays open after this response. */
  readonly keepAlive: boolean;
  readonly destroyed: boolean;
  /** Takes the status and fields (hop-by-hop ones already removed); throws when they cannot be sent.
   * They go out with the first body bytes or the end, or at `flushHead`. */
  writeHead(status: number, reason: string, headers: string[]): void;
  /** Sends a head given to writeHead now, without waiting for body bytes. */
  flushHead(): void;
  write(data: Buffer): boolean;
  once(event: 'drain' | 'close', cb: () => void): void;
  off(event: 'drain' | 'close', cb: () => void): void;
  end(last?: Buffer): void;
  destroy(): void;
}

/** node:http's ServerResponse as a Downstream. */
export class ResponseDownstream implements Downstream {
  private readonly res: ServerResponse;
  constructor(res: ServerResponse) {
    this.res = res;
  }
  get keepAlive(): boolean {
    return this.res.shouldKeepAlive;
  }
  get destroyed(): boolean {
    return this.res.destroyed;
  }
  writeHead(status: number, reason: string, headers: string[]): void {
    headers.push('connection', this.res.shouldKeepAlive ? 'keep-alive' : 'close');
    this.res.writeHead(status, reason || undefined, headers);
  }
  flushHead(): void {
    this.res.flushHeaders();
  }
  write(data: Buffer): boolean {
    return this.res.write(data);
  }
  once(event: 'drain' | 'close', cb: () => void): void {
    this.res.once(event, cb);
  }
  off(event: 'drain' | 'close', cb: () => void): void {
    this.res.off(event, cb);
  }
  end(last?: Buffer): void {
    this.res.end(last);
  }
  destroy(): void {
    this.res.destroy();
  }
}

export interface ExchangeEvents {
  /** Before any response byte went to the client; the proxy answers or retries. */
  failed(f: Failure): void;
  /** The request body went over the limit. */
  tooLarge(): void;
}

/** The request: its method (for the response framing), its head as written upstream, and its body. */
export interface Outgoing {
  method: string;
  head: string;
  /** The body's source; absent with `none`. */
  req?: IncomingMessage;
  body: RequestBody;
}

/** Runs one request/response exchange with `u`. */
export function exchange(
  pool: UpstreamPool,
  u: Upstream,
  out: Outgoing,
  res: Downstream,
  o: ExchangeOptions,
  ev: ExchangeEvents,
): void {
  pool.take(u, (conn) => new Exchange(pool, conn, out, res, o, ev).start());
}

class Exchange implements ConnUser {
  private responded = false;
  private finished = false;
  private sentBody = false;
  /** The upstream keeps the connection open after this response. */
  private reusable = true;
  /** The parsed response head, written with the first read that parsed cleanly to its end. */
  private parsedHead?: ResponseHead;
  /** Body pieces of the current read: nothing of a read reaches the client until all of it parsed,
   * so a response that fails in its first read is still a clean 502. */
  private pending: Buffer[] = [];
  private seen = 0;

  private readonly pool: UpstreamPool;
  private readonly conn: Conn;
  private readonly out: Outgoing;
  private readonly res: Downstream;
  private readonly o: ExchangeOptions;
  private readonly ev: ExchangeEvents;

  constructor(pool: UpstreamPool, conn: Conn, out: Outgoing, res: Downstream, o: ExchangeOptions, ev: ExchangeEvents) {
    this.pool = pool;
    this.conn = conn;
    this.out = out;
    this.res = res;
    this.o = o;
    this.ev = ev;
  }

  start(): void {
    const { conn, out, res } = this;
    const req = out.req;
    if (res.destroyed || req?.destroyed) {
      this.pool.release(conn);
      return;
    }
    conn.user = this;
    const s = conn.socket;
    s.setTimeout(s.connecting ? this.o.connectTimeoutMs : this.o.readTimeoutMs);
    if (s.connecting) s.once('connect', () => s.setTimeout(this.o.readTimeoutMs));
    conn.parser.expect(out.method, this);
    res.once('close', this.onClientClose);
    s.write(out.head, 'latin1');
    if (!req || out.body === 'none') {
      this.sentBody = true;
      return;
    }
    req.on('data', this.onReqData);
    req.once('end', this.onReqEnd);
  }

  private readonly onReqData = (c: Buffer): void => {
    this.seen += c.length;
    if (this.o.maxBodyBytes && this.seen > this.o.maxBodyBytes) {
      this.detach();
      this.conn.socket.destroy();
      this.ev.tooLarge();
      return;
    }
    const s = this.conn.socket;
    const ok = this.out.body === 'chunked' ? writeAll(s, chunk(c)) : s.write(c);
    if (!ok) {
      const req = this.out.req;
      req?.pause();
      s.once('drain', () => req?.resume());
    }
  };

  private readonly onReqEnd = (): void => {
    if (this.out.body === 'chunked') this.conn.socket.write(LAST_CHUNK);
    this.sentBody = true;
  };

  private readonly onClientClose = (): void => {
    // The client left (or its response ended): an unfinished exchange leaves the connection unusable.
    if (!this.finished) {
      this.detach();
      this.conn.socket.destroy();
    }
  };

  private detach(): void {
    this.conn.user = undefined;
    this.out.req?.off('data', this.onReqData);
    this.out.req?.off('end', this.onReqEnd);
    // A body not sent to its end (an early answer, a failure) is read and dropped, so node:http
    // can parse the client's next request; paused by upstream backpressure it waited for the request timeout.
    if (!this.sentBody) this.out.req?.resume();
    this.res.off('close', this.onClientClose);
    this.res.off('drain', this.onClientDrain);
  }

  // ResponseSink
  head(h: ResponseHead): void {
    this.reusable = !h.close;
    this.parsedHead = h;
  }

  body(data: Buffer): void {
    this.pending.push(data);
  }

  end(): void {
    this.finished = true;
  }

  /** Writes the parsed head to the client once; false when it cannot be sent. */
  private sendHead(): boolean {
    const h = this.parsedHead;
    if (!h) return true;
    this.parsedHead = undefined;
    try {
      this.res.writeHead(h.status, h.reason, stripHopByHopList(h.headers));
    } catch {
      // A field or reason Node refuses to send (e.g. a character it does not allow): a bad response.
      return false;
    }
    this.responded = true;
    return true;
  }

  /** The current read's body as one buffer, so a whole response in one read leaves in one write. */
  private takePending(): Buffer | undefined {
    const p = this.pending;
    this.pending = [];
    return p.length > 1 ? Buffer.concat(p) : p[0];
  }

  private flush(): void {
    const p = this.takePending();
    if (p && !this.res.write(p)) {
      this.conn.socket.pause();
      this.res.off('drain', this.onClientDrain);
      this.res.once('drain', this.onClientDrain);
    }
  }

  private readonly onClientDrain = (): void => {
    this.conn.socket.resume();
  };

  // ConnUser
  data(buf: Buffer): void {
    try {
      this.conn.parser.feed(buf);
    } catch (e) {
      if (!(e instanceof H1Error)) throw e;
      if (this.finished) {
        // Bytes after a complete response (a body to HEAD, more than Content-Length): the response
        // stands, the connection with its surplus is closed.
        this.deliver(false);
        return;
      }
      this.fail('EPROTO');
      return;
    }
    if (this.finished) {
      this.deliver(true);
      return;
    }
    const headNow = this.parsedHead !== undefined;
    if (!this.sendHead()) this.fail('EPROTO');
    else if (this.pending.length) this.flush();
    // A head alone (a long poll, an event stream): the client sees it now, not with the first event.
    else if (headNow) this.res.flushHead();
  }

  closed(err?: NodeJS.ErrnoException): void {
    if (!this.finished && !this.conn.parser.idle) {
      try {
        this.conn.parser.eof(); // the end of a close-delimited body
      } catch {
        // the response was cut short: a failure below
      }
      if (this.finished) {
        this.deliver(false);
        return;
      }
    }
    this.fail(err?.code ?? 'ECONNRESET');
  }

  timeout(): void {
    this.fail(this.conn.socket.connecting ? 'ECONNECT_TIMEOUT' : 'ETIMEDOUT');
  }

  /** The response is complete: to the client, and the connection back to the pool when it can carry another. */
  private deliver(open: boolean): void {
    if (!this.sendHead()) {
      this.fail('EPROTO');
      return;
    }
    const last = this.takePending();
    this.detach();
    // Answered before the whole body was sent (e.g. an early 413), or told to close: not reusable.
    // Released before the client's response ends, so a pipelined request it starts can reuse it.
    if (open && this.reusable && this.sentBody) {
      // The client's backpressure paused it for this response only: the next user reads from it.
      this.conn.socket.resume();
      this.conn.uses++;
      this.pool.release(this.conn);
    } else this.conn.socket.destroy();
    this.res.end(last);
  }

  private fail(code: string): void {
    this.pending = [];
    // A read timeout means the upstream has the request and is slow, not that the connection was
    // stale; a bad answer (EPROTO) is an answer.
    const stale = code !== 'ETIMEDOUT' && code !== 'EPROTO' && this.conn.uses > 0 && this.conn.parser.idle;
    this.detach();
    this.conn.socket.destroy();
    if (this.responded) this.res.destroy();
    else this.ev.failed({ code, stale });
  }
}

function writeAll(s: Conn['socket'], parts: Buffer[]): boolean {
  let ok = true;
  for (const p of parts) ok = s.write(p) && ok;
  return ok;
}
