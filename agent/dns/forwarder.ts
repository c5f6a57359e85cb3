// Outside names: the cache first, then the upstreams in turn (the last one that answered first),
// each attempt with its own timeout inside one overall deadline, over UDP and again over TCP when
// the answer comes back truncated. Identical questions in flight share one upstream query, and
// the number in flight is bounded; anything that cannot be answered in time is SERVFAIL.
import { createSocket, type Socket } from 'node:dgram';
import { connect } from 'node:net';
import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { type CacheEntry, DnsCache, type CacheLimits, DEFAULT_CACHE, fromEntry, toEntry } from './cache.ts';
import type { DnsMetrics } from './metrics.ts';
import type { Upstream } from './upstreams.ts';
import { encodeQuery, FLAG, type Query, RCODE } from './wire.ts';
import { rcodeResponse } from './answer.ts';

export interface ForwarderOptions {
  upstreams: Upstream[];
  /** One attempt at one upstream (ms). */
  attemptMs: number;
  /** The whole forwarding of one question (ms): past it the client gets SERVFAIL. */
  deadlineMs: number;
  maxInFlight: number;
  cache: CacheLimits;
}

export const DEFAULT_FORWARDER: Omit<ForwarderOptions, 'upstreams'> = {
  attemptMs: 1000,
  deadlineMs: 2500,
  maxInFlight: 1000,
  cache: DEFAULT_CACHE,
};

interface Pending {
  upstream: Upstream;
  resolve: (b: Buffer | null) => void;
  timer: NodeJS.Timeout;
}

export type Forwarded = { response: Buffer; source: 'cache' | 'upstream' | 'error' };

export class Forwarder {
  readonly cache: DnsCache;
  private socket: Socket | null = null;
  private pending = new Map<number, Pending>();
  private inFlight = new Map<string, Promise<CacheEntry | null>>();
  private preferred = 0;
  private o: ForwarderOptions;
  private metrics: DnsMetrics;

  constructor(o: Partial<ForwarderOptions> & { upstreams: Upstream[] }, metrics: DnsMetrics) {
    this.metrics = metrics;
    this.o = { ...DEFAULT_FORWARDER, ...o };
    this.cache = new DnsCache(this.o.cache);
  }

  setUpstreams(list: Upstream[]): void {
    this.o.upstreams = list;
    this.preferred = 0;
  }

  async start(): Promise<void> {
    const s = createSocket('udp4');
    s.on('message', (msg, rinfo) => {
      if (msg.length < 12) return;
      const p = this.pending.get(msg.readUInt16BE(0));
      // Only the upstream we asked may answer, from the port we asked.
      if (!p || p.upstream.host !== rinfo.address || p.upstream.port !== rinfo.port) return;
      this.settle(msg.readUInt16BE(0), msg);
    });
    s.on('error', () => {});
    await new Promise<void>((r) => s.bind(0, r));
    this.socket = s;
  }

  stop(): void {
    for (const id of [...this.pending.keys()]) this.settle(id, null);
    this.socket?.close();
    this.socket = null;
  }

  /** The client's answer for an outside name. */
  async forward(q: Query, limit: number): Promise<Forwarded> {
    const now = Date.now();
    const key = `${q.name}/${q.type}`;
    const hit = this.cache.get(key, now);
    if (hit) {
      this.metrics.cacheHits.inc();
      return { response: fromEntry(hit, q, limit, now), source: 'cache' };
    }
    this.metrics.cacheMisses.inc();
    const entry = await this.lookup(q.name, q.type);
    if (!entry) return { response: rcodeResponse(q, RCODE.SERVFAIL), source: 'error' };
    return { response: fromEntry(entry, q, limit, Date.now()), source: 'upstream' };
  }

  /** The answer entry for (name, type), cached or fresh; null when no upstream answered in time. */
  async lookup(name: string, type: number): Promise<CacheEntry | null> {
    const key = `${name}/${type}`;
    const cached = this.cache.get(key, Date.now());
    if (cached) return cached;
    let p = this.inFlight.get(key);
    if (!p) {
      if (this.inFlight.size >= this.o.maxInFlight) {
        this.metrics.dropped.inc({ reason: 'in_flight_limit' });
        return null;
      }
      p = this.resolve(name, type).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, p);
    }
    return p;
  }

  private async resolve(name: string, type: number): Promise<CacheEntry | null> {
    const ups = this.o.upstreams;
    if (!ups.length) return null;
    const deadline = performance.now() + this.o.deadlineMs;
    // Round the list until the deadline (a lost datagram is retried), except upstreams that
    // answered with an error: asking them again within the same second changes nothing.
    const refused = new Set<number>();
    for (let i = 0; refused.size < ups.length; i++) {
      const idx = (this.preferred + i) % ups.length;
      if (refused.has(idx)) continue;
      const left = deadline - performance.now();
      if (left <= 0) break;
      const up = ups[idx];
      const t0 = performance.now();
      let res = await this.udp(up, name, type, Math.min(this.o.attemptMs, left));
      if (res && res.readUInt16BE(2) & FLAG.TC) {
        const rest = deadline - performance.now();
        res = rest > 0 ? await this.tcp(up, name, type, Math.min(this.o.attemptMs, rest)) : null;
      }
      const label = { upstream: `${up.host}:${up.port}` };
      if (!res) {
        this.metrics.upstreamErrors.inc({ ...label, reason: 'timeout' });
        continue;
      }
      this.metrics.upstreamLatency.observe((performance.now() - t0) / 1000, label);
      const rcode = res.readUInt16BE(2) & 0xf;
      if (rcode !== RCODE.NOERROR && rcode !== RCODE.NXDOMAIN) {
        refused.add(idx);
        this.metrics.upstreamErrors.inc({ ...label, reason: rcode === RCODE.REFUSED ? 'refused' : 'servfail' });
        continue;
      }
      const now = Date.now();
      const made = toEntry(res, name, type, this.o.cache, now);
      if (!made) {
        refused.add(idx);
        this.metrics.upstreamErrors.inc({ ...label, reason: 'malformed' });
        continue;
      }
      this.preferred = idx;
      if (made.lifetimeMs > 0) this.cache.set(`${name}/${type}`, made.entry);
      return made.entry;
    }
    return null;
  }

  private settle(id: number, msg: Buffer | null): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(msg);
  }

  private udp(up: Upstream, name: string, type: number, ms: number): Promise<Buffer | null> {
    const s = this.socket;
    if (!s) return Promise.resolve(null);
    let id = randomInt(65536);
    while (this.pending.has(id)) id = (id + 1) & 0xffff;
    const query = encodeQuery(id, name, type);
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.settle(id, null), ms);
      this.pending.set(id, { upstream: up, resolve, timer });
      s.send(query, up.port, up.host, (err) => {
        if (err) this.settle(id, null);
      });
    });
  }

  private tcp(up: Upstream, name: string, type: number, ms: number): Promise<Buffer | null> {
    const query = encodeQuery(randomInt(65536), name, type);
    return new Promise((resolve) => {
      const sock = connect({ host: up.host, port: up.port });
      let buf = Buffer.alloc(0);
      const done = (b: Buffer | null) => {
        clearTimeout(timer);
        sock.destroy();
        resolve(b);
      };
      const timer = setTimeout(() => done(null), ms);
      sock.on('error', () => done(null));
      sock.on('close', () => done(null));
      sock.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(query.length);
        sock.write(Buffer.concat([len, query]));
      });
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
          // Shorter than a header is no answer (and reading its ID would throw in this handler).
          done(msg.length >= 12 && msg.readUInt16BE(0) === query.readUInt16BE(0) ? Buffer.from(msg) : null);
        }
      });
    });
  }
}
