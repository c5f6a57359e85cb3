// SPDY/3.1 framing, the subset Kubernetes streaming uses: streams opened with SYN_STREAM and
// answered with SYN_REPLY, data with FIN half-close, RST_STREAM, PING and GOAWAY. kubectl
// port-forward speaks it (tunnelled in WebSocket messages) and containerd's streaming server
// speaks it for exec, attach and port-forward. Flow control is not enforced by either peer's
// implementation, so WINDOW_UPDATE and SETTINGS are read and ignored.
import { constants, createDeflate, createInflate, type Deflate, type Inflate } from 'node:zlib';
import { SPDY_DICTIONARY } from './spdy-dictionary.ts';

export type SpdyHeaders = Record<string, string>;

const VERSION = 3;
const SYN_STREAM = 1,
  SYN_REPLY = 2,
  RST_STREAM = 3,
  PING = 6,
  GOAWAY = 7,
  HEADERS = 8;
const FLAG_FIN = 1;
const RST_CANCEL = 5;
const MAX_DATA = 32 * 1024;

export class SpdyError extends Error {}

export class SpdyStream {
  readonly id: number;
  readonly headers: SpdyHeaders;
  /** Called for each data frame the peer sends on this stream. */
  onData: (b: Buffer) => void = () => {};
  /** Called once when the peer half-closes (FIN) or resets the stream. */
  onEnd: (reset: boolean) => void = () => {};
  remoteClosed = false;
  localClosed = false;
  private session: SpdySession;
  private replied!: () => void;
  private refused!: (e: Error) => void;
  /** Settles when the peer answers a stream we opened: SYN_REPLY resolves, RST_STREAM or a lost session rejects. */
  readonly reply: Promise<void>;

  constructor(session: SpdySession, id: number, headers: SpdyHeaders) {
    this.session = session;
    this.id = id;
    this.headers = headers;
    this.reply = new Promise((resolve, reject) => {
      this.replied = resolve;
      this.refused = reject;
    });
    // Streams the peer opened are never awaited; their rejection must not become an unhandled one.
    this.reply.catch(() => {});
  }

  write(b: Buffer) {
    if (this.localClosed) return;
    for (let off = 0; off < b.length; off += MAX_DATA)
      this.session.sendData(this.id, b.subarray(off, off + MAX_DATA), false);
  }

  /** Half-closes our side (FIN). */
  end() {
    if (this.localClosed) return;
    this.localClosed = true;
    this.session.sendData(this.id, Buffer.alloc(0), true);
  }

  reset() {
    this.localClosed = true;
    this.session.sendRst(this.id);
    this.session.forget(this.id);
  }

  /** Answers a stream the peer opened. */
  accept() {
    this.session.sendReply(this.id);
  }

  /** @internal */ gotReply() {
    this.replied();
  }
  /** @internal */ gotRefused(e: Error) {
    this.refused(e);
  }
  /** @internal */ remoteEnd(reset: boolean) {
    if (this.remoteClosed) return;
    this.remoteClosed = true;
    this.onEnd(reset);
  }
}

/** One SPDY connection. `out` sends bytes to the peer; incoming bytes are given to feed(). */
export class SpdySession {
  /** Streams the peer opens. */
  onStream: (s: SpdyStream) => void = () => {};
  /** The peer sent GOAWAY or broke the framing. */
  onClose: (err?: Error) => void = () => {};
  private out: (b: Buffer) => void;
  private nextId: number;
  private streams = new Map<number, SpdyStream>();
  private buf: Buffer = Buffer.alloc(0);
  // Header blocks share one zlib context per direction, so frames are handled and sent in order.
  private inQueue: Promise<void> = Promise.resolve();
  private outQueue: Promise<void> = Promise.resolve();
  private deflate: Deflate = createDeflate({ dictionary: SPDY_DICTIONARY });
  private inflate: Inflate = createInflate({ dictionary: SPDY_DICTIONARY });
  private closed = false;

  constructor(out: (b: Buffer) => void, role: 'client' | 'server') {
    this.out = out;
    this.nextId = role === 'client' ? 1 : 2;
    this.deflate.on('error', (e) => this.fail(e));
    this.inflate.on('error', (e) => this.fail(e));
  }

  feed(chunk: Buffer) {
    if (this.closed) return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 8) {
      const len = this.buf.readUIntBE(5, 3);
      if (this.buf.length < 8 + len) break;
      const frame = Buffer.from(this.buf.subarray(0, 8 + len));
      this.buf = this.buf.subarray(8 + len);
      this.inQueue = this.inQueue.then(() => this.handle(frame)).catch((e) => this.fail(e));
    }
  }

  /**
   * Opens a stream; resolves once the peer replied. The wait is Kubernetes' own for a stream reply
   * (30 s): a busy node may take seconds to answer. A reset or a lost session rejects at once.
   */
  async open(headers: SpdyHeaders, timeoutMs = 30_000): Promise<SpdyStream> {
    if (this.closed) throw new SpdyError('session closed');
    const id = this.nextId;
    this.nextId += 2;
    const s = new SpdyStream(this, id, headers);
    this.streams.set(id, s);
    this.enqueue(async () => {
      const block = await this.compress(headers);
      const body = Buffer.alloc(10);
      body.writeUInt32BE(id, 0);
      body.writeUInt32BE(0, 4);
      return control(SYN_STREAM, 0, Buffer.concat([body, block]));
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new SpdyError(`no reply to stream ${id} within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([s.reply, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return s;
  }

  close(why: Error = new SpdyError('session closed')) {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams.values()) {
      s.gotRefused(why);
      s.remoteEnd(true);
    }
    this.streams.clear();
    this.deflate.close();
    this.inflate.close();
  }

  /** @internal */ sendData(id: number, data: Buffer, fin: boolean) {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(id & 0x7fffffff, 0);
    head.writeUInt32BE(((fin ? FLAG_FIN : 0) << 24) | data.length, 4);
    const frame = Buffer.concat([head, data]);
    this.enqueue(async () => frame);
  }

  /** @internal */ sendReply(id: number) {
    this.enqueue(async () => {
      const block = await this.compress({});
      const body = Buffer.alloc(4);
      body.writeUInt32BE(id, 0);
      return control(SYN_REPLY, 0, Buffer.concat([body, block]));
    });
  }

  /** @internal */ sendRst(id: number) {
    const body = Buffer.alloc(8);
    body.writeUInt32BE(id, 0);
    body.writeUInt32BE(RST_CANCEL, 4);
    this.enqueue(async () => control(RST_STREAM, 0, body));
  }

  /** @internal */ forget(id: number) {
    this.streams.delete(id);
  }

  private enqueue(make: () => Promise<Buffer>) {
    if (this.closed) return;
    this.outQueue = this.outQueue
      .then(async () => {
        const b = await make();
        if (!this.closed) this.out(b);
      })
      .catch((e) => this.fail(e));
  }

  private fail(e: Error) {
    if (this.closed) return;
    this.close(e);
    this.onClose(e);
  }

  private async handle(f: Buffer) {
    if (this.closed) return;
    const flags = f[4];
    if (!(f[0] & 0x80)) {
      const id = f.readUInt32BE(0) & 0x7fffffff;
      const s = this.streams.get(id);
      if (!s) return;
      if (f.length > 8) s.onData(f.subarray(8));
      if (flags & FLAG_FIN) this.remoteFin(s);
      return;
    }
    const version = f.readUInt16BE(0) & 0x7fff;
    if (version !== VERSION) throw new SpdyError(`unsupported SPDY version ${version}`);
    const type = f.readUInt16BE(2);
    switch (type) {
      case SYN_STREAM: {
        const id = f.readUInt32BE(8) & 0x7fffffff;
        const headers = await this.decompress(f.subarray(18));
        const s = new SpdyStream(this, id, headers);
        this.streams.set(id, s);
        this.onStream(s);
        if (flags & FLAG_FIN) this.remoteFin(s);
        return;
      }
      case SYN_REPLY:
      case HEADERS: {
        const id = f.readUInt32BE(8) & 0x7fffffff;
        await this.decompress(f.subarray(12));
        const s = this.streams.get(id);
        if (!s) return;
        if (type === SYN_REPLY) s.gotReply();
        if (flags & FLAG_FIN) this.remoteFin(s);
        return;
      }
      case RST_STREAM: {
        const id = f.readUInt32BE(8) & 0x7fffffff;
        const s = this.streams.get(id);
        if (!s) return;
        this.streams.delete(id);
        s.localClosed = true;
        s.gotRefused(
          new SpdyError(`stream ${id} reset by the peer (status ${f.length >= 16 ? f.readUInt32BE(12) : '?'})`),
        );
        s.remoteEnd(true);
        return;
      }
      case PING:
        this.enqueue(async () => f);
        return;
      case GOAWAY:
        this.fail(new SpdyError('peer sent GOAWAY'));
        return;
      default:
        // SETTINGS (4) and WINDOW_UPDATE (9) need no answer: both sides use the default window.
        return;
    }
  }

  private remoteFin(s: SpdyStream) {
    s.remoteEnd(false);
    if (s.localClosed) this.streams.delete(s.id);
  }

  private compress(h: SpdyHeaders): Promise<Buffer> {
    return zflush(this.deflate, encodeHeaders(h));
  }

  private async decompress(block: Buffer): Promise<SpdyHeaders> {
    return decodeHeaders(await zflush(this.inflate, block));
  }
}

function control(type: number, flags: number, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16BE(0x8000 | VERSION, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt32BE((flags << 24) | body.length, 4);
  return Buffer.concat([head, body]);
}

/** Writes input through a long-lived zlib stream and returns what one sync flush yields. */
function zflush(z: Deflate | Inflate, input: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const take = (c: Buffer) => chunks.push(c);
    z.on('data', take);
    z.write(input);
    z.flush(constants.Z_SYNC_FLUSH, () => {
      z.off('data', take);
      resolve(Buffer.concat(chunks));
    });
  });
}

export function encodeHeaders(h: SpdyHeaders): Buffer {
  const entries = Object.entries(h);
  const parts: Buffer[] = [u32(entries.length)];
  for (const [k, v] of entries) {
    const kb = Buffer.from(k.toLowerCase()),
      vb = Buffer.from(v);
    parts.push(u32(kb.length), kb, u32(vb.length), vb);
  }
  return Buffer.concat(parts);
}

export function decodeHeaders(b: Buffer): SpdyHeaders {
  const out: SpdyHeaders = {};
  if (b.length < 4) return out;
  const n = b.readUInt32BE(0);
  let p = 4;
  for (let i = 0; i < n; i++) {
    if (p + 4 > b.length) throw new SpdyError('truncated header block');
    const kl = b.readUInt32BE(p);
    p += 4;
    const k = b.subarray(p, p + kl).toString();
    p += kl;
    const vl = b.readUInt32BE(p);
    p += 4;
    const v = b.subarray(p, p + vl).toString();
    p += vl;
    out[k] = v.split('\0')[0];
  }
  return out;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
