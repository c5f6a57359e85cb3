// The resolver's sockets: one UDP socket and one TCP listener on the same address and port, both
// with SO_REUSEPORT so that a restarting agent binds next to the old one before it lets go.
// TCP follows RFC 7766: two-byte length framing, several queries per connection, answers as they
// are ready, idle connections closed; connections and queries per connection are bounded.
import { createSocket, type Socket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket as TcpSocket } from 'node:net';
import type { DnsMetrics } from './metrics.ts';
import type { Resolver } from './resolver.ts';
import { MAX_QUERY } from './wire.ts';

/** Answers a TCP client may leave unread before its connection is closed. */
const TCP_UNREAD_LIMIT = 4 * 1024 * 1024;

export interface DnsServerOptions {
  address: string;
  /** 0 picks a free port (tests); UDP and TCP then share the one UDP got. */
  port: number;
  tcpIdleMs?: number;
  maxTcpConnections?: number;
  /** Queries one TCP connection may have unanswered before it is no longer read. */
  tcpPipeline?: number;
}

/** A dgram `lookup` for addresses that are already IPs: answers synchronously. */
function literalAddress(
  address: string,
  _opts: unknown,
  cb: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  cb(null, address, isIPv6(address) ? 6 : 4);
}

export class DnsServer {
  private udp: Socket | null = null;
  private tcp: Server | null = null;
  private conns = new Set<TcpSocket>();
  port = 0;
  private resolver: Resolver;
  private metrics: DnsMetrics;
  private o: DnsServerOptions;

  constructor(resolver: Resolver, metrics: DnsMetrics, o: DnsServerOptions) {
    this.resolver = resolver;
    this.metrics = metrics;
    this.o = o;
  }

  async start(): Promise<void> {
    // A 4 MiB receive buffer (the kernel caps it at net.core.rmem_max): with the default 208 KiB a
    // burst of a few hundred queries while the process is not on a CPU overflows it, and a client
    // that keeps a fixed number of queries outstanding stalls on the lost ones.
    const udp = createSocket({
      type: isIPv6(this.o.address) ? 'udp6' : 'udp4',
      reusePort: true,
      recvBufferSize: 4 << 20,
      // Replies go to the address a query came from, always an IP: no resolver call and no
      // extra tick per answer (the default lookup defers every send to the next tick).
      lookup: literalAddress,
    });
    udp.on('message', (msg, rinfo) => this.onDatagram(udp, msg, rinfo.port, rinfo.address));
    udp.on('error', () => this.metrics.dropped.inc({ reason: 'udp_error' }));
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.o.port, this.o.address, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    this.udp = udp;
    this.port = udp.address().port;
    const tcp = createServer({ noDelay: true }, (s) => this.onConnection(s));
    tcp.maxConnections = this.o.maxTcpConnections ?? 256;
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ host: this.o.address, port: this.port, reusePort: true }, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    this.tcp = tcp;
  }

  async stop(): Promise<void> {
    this.udp?.close();
    this.udp = null;
    for (const c of this.conns) c.destroy();
    await new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r()));
    this.tcp = null;
  }

  private onDatagram(udp: Socket, msg: Buffer, port: number, address: string): void {
    // No callback: the send is tried at once, with no completion to track; errors reach 'error'.
    const send = (res: Buffer | null) => {
      if (res) udp.send(res, port, address);
    };
    let out: ReturnType<Resolver['handle']>;
    try {
      out = this.resolver.handle(msg, false);
    } catch {
      this.metrics.dropped.inc({ reason: 'internal' });
      return;
    }
    if (out instanceof Promise) out.then(send, () => {});
    else send(out);
  }

  private onConnection(s: TcpSocket): void {
    this.conns.add(s);
    s.setTimeout(this.o.tcpIdleMs ?? 10_000, () => s.destroy());
    s.on('error', () => {});
    s.on('close', () => this.conns.delete(s));
    const limit = this.o.tcpPipeline ?? 32;
    let buf = Buffer.alloc(0);
    let waiting = 0;
    const reply = (res: Buffer | null) => {
      if (!res || s.destroyed) return;
      const len = Buffer.allocUnsafe(2);
      len.writeUInt16BE(res.length);
      // A client that asks and does not read: reading stops until it drains its answers, and
      // past TCP_UNREAD_LIMIT bytes of them (what one read's queries could still add) it goes.
      if (!s.write(Buffer.concat([len, res]))) s.pause();
      if (s.writableLength > TCP_UNREAD_LIMIT) {
        this.metrics.dropped.inc({ reason: 'tcp_unread' });
        s.destroy();
      }
    };
    s.on('drain', () => {
      if (waiting < limit) s.resume();
    });
    const settle = () => {
      waiting--;
      if (waiting < limit && s.isPaused() && !s.writableNeedDrain) s.resume();
    };
    s.on('data', (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (len > MAX_QUERY || len < 12) {
          // Nothing we would answer is this big (or this small): the stream cannot be trusted further.
          this.metrics.dropped.inc({ reason: 'tcp_frame' });
          s.destroy();
          return;
        }
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        let out: ReturnType<Resolver['handle']>;
        try {
          out = this.resolver.handle(msg, true);
        } catch {
          out = null;
        }
        if (out instanceof Promise) {
          waiting++;
          if (waiting >= limit) s.pause();
          out.then(reply, () => {}).finally(settle);
        } else reply(out);
      }
    });
  }
}
