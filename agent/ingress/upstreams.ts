// Upstream connections: a pool of keep-alive TCP connections per endpoint (ip:port), reused last in
// first out so a few warm connections carry the load, and a round-robin cursor per backend.
// Connections of endpoints that left every backend are retired when the route table changes.
import { connect, type Socket } from 'node:net';
import { ResponseParser } from './h1.ts';
import type { Backend, RouteTable, Upstream } from './routes.ts';

export interface PoolOptions {
  /** Most connections to one endpoint (in use and idle); more requests wait for one. */
  maxSockets: number;
  /** Idle upstream connections are closed after this long. */
  idleMs: number;
}

/** What a connection reports to the exchange using it. */
export interface ConnUser {
  data(buf: Buffer): void;
  /** The connection ended (EOF, error or destroy); `err` when it failed. */
  closed(err?: NodeJS.ErrnoException): void;
  timeout(): void;
}

/** One upstream connection and its response parser; the listeners are set once, not per request.
 * Its reads arrive through read() (dialUpstream), not as 'data' events. */
export class Conn {
  readonly socket: Socket;
  readonly parser = new ResponseParser();
  /** Requests it carried (0 while the first is on its way: a failure then is not a stale connection). */
  uses = 0;
  user?: ConnUser;
  private failure?: NodeJS.ErrnoException;
  readonly endpoint: Endpoint;

  constructor(socket: Socket, endpoint: Endpoint) {
    this.socket = socket;
    this.endpoint = endpoint;
    socket.setNoDelay(true);
    socket.on('error', (e: NodeJS.ErrnoException) => {
      this.failure = e;
    });
    socket.on('timeout', () => {
      if (this.user) this.user.timeout();
      else socket.destroy();
    });
    socket.on('end', () => {
      // The endpoint closed its side: no new request may be taken onto it while it closes.
      endpoint.unidle(this);
      socket.end();
    });
    socket.on('close', () => {
      endpoint.forget(this);
      const u = this.user;
      this.user = undefined;
      u?.closed(this.failure);
    });
  }

  /** One read from the upstream, in a buffer of its own. */
  read(b: Buffer): void {
    if (this.user) this.user.data(b);
    else this.socket.destroy(); // an idle connection has nothing to say
  }
}

// Every upstream connection reads into this one buffer, and each read is copied out at its size
// before anything else runs: no 64 KiB allocation and no Readable stream machinery per read. The
// callback is synchronous, so the buffer is free again when it returns.
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

function dialUpstream(host: string, port: number, endpoint: Endpoint): Conn {
  let conn: Conn | undefined;
  const socket = connect({
    host,
    port,
    onread: {
      buffer: READ_BUFFER,
      callback: (n: number, b: Uint8Array) => {
        conn?.read(Buffer.from(b.subarray(0, n)));
        return true;
      },
    },
  });
  conn = new Conn(socket, endpoint);
  return conn;
}

type Waiter = (c: Conn) => void;

/** Open both ways, not being destroyed. */
function usable(c: Conn): boolean {
  const s = c.socket;
  return !s.destroyed && !s.readableEnded && s.writable;
}

/** The connections to one endpoint. */
class Endpoint {
  readonly idle: Conn[] = [];
  open = 0;
  retired = false;
  readonly waiters: Waiter[] = [];
  readonly host: string;
  readonly port: number;
  private readonly opts: PoolOptions;

  constructor(u: Upstream, opts: PoolOptions) {
    this.host = u.ip;
    this.port = u.port;
    this.opts = opts;
  }

  /** Out of the idle list (it stays counted as open until it has closed). */
  unidle(c: Conn): void {
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
  }

  forget(c: Conn): void {
    this.unidle(c);
    this.open--;
    // A slot freed: a waiting request gets a new connection.
    const w = this.waiters.shift();
    if (w) w(this.dial());
  }

  dial(): Conn {
    this.open++;
    return dialUpstream(this.host, this.port, this);
  }

  /** A connection for the next request: the most recently used idle one, a new one, or the next free one. */
  take(cb: Waiter): void {
    let c = this.idle.pop();
    // One the endpoint has half-closed or that is being destroyed waits for its `close` event:
    // a request written to it would be lost. (The `end` handler already unlists half-closed ones.)
    while (c && !usable(c)) c = this.idle.pop();
    if (c) cb(c);
    else if (this.open < this.opts.maxSockets) cb(this.dial());
    else this.waiters.push(cb);
  }

  /** A connection that finished its exchange cleanly: to a waiting request, or idle. */
  release(c: Conn): void {
    c.user = undefined;
    if (this.retired || !usable(c)) {
      c.socket.destroy();
      return;
    }
    const w = this.waiters.shift();
    if (w) {
      w(c);
      return;
    }
    c.socket.setTimeout(this.opts.idleMs);
    this.idle.push(c);
  }

  /** Idle connections close now, busy ones when their exchange ends. */
  retire(): void {
    this.retired = true;
    for (const c of [...this.idle]) c.socket.destroy();
  }
}

export class UpstreamPool {
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly cursors = new Map<string, number>();

  private readonly opts: PoolOptions;

  constructor(opts: PoolOptions) {
    this.opts = opts;
  }

  /** Calls back with a connection to `u` (maybe after waiting for a free one). */
  take(u: Upstream, cb: (c: Conn) => void): void {
    const k = `${u.ip}:${u.port}`;
    let e = this.endpoints.get(k);
    if (!e) {
      e = new Endpoint(u, this.opts);
      this.endpoints.set(k, e);
    }
    e.take(cb);
  }

  release(c: Conn): void {
    c.endpoint.release(c);
  }

  /**
   * The endpoints of a backend in the order to try them: round robin decides the first, the others
   * follow so that a connect error can move on to the next one.
   */
  order(b: Backend): Upstream[] {
    const n = b.endpoints.length;
    if (n === 0) return [];
    const c = this.cursors.get(b.name) ?? 0;
    this.cursors.set(b.name, (c + 1) % n);
    const start = c % n;
    if (start === 0) return b.endpoints;
    return [...b.endpoints.slice(start), ...b.endpoints.slice(0, start)];
  }

  /** Retires the connections of endpoints no backend in the table uses any more. */
  prune(table: RouteTable): void {
    const live = new Set<string>();
    const names = new Set<string>();
    const add = (b: Backend) => {
      names.add(b.name);
      for (const e of b.endpoints) live.add(`${e.ip}:${e.port}`);
    };
    for (const list of [...table.hosts.values(), ...table.wildcards.values(), table.anyHost])
      for (const r of list) add(r.backend);
    if (table.defaultBackend) add(table.defaultBackend.backend);
    for (const [k, e] of this.endpoints)
      if (!live.has(k)) {
        this.endpoints.delete(k);
        e.retire();
      }
    for (const k of this.cursors.keys()) if (!names.has(k)) this.cursors.delete(k);
  }

  close(): void {
    for (const e of this.endpoints.values()) {
      e.retire();
      e.waiters.length = 0;
    }
    this.endpoints.clear();
  }
}
