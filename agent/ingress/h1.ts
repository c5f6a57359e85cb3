// Pure HTTP/1.1 framing for the ingress (RFC 9112): which request heads the fast path may take, the
// chunked coding, and an incremental parser for the pod's responses (status line, header fields,
// body framed by Content-Length, chunked coding or the end of the connection; interim 1xx
// answers skipped). The client side stays on node:http, whose llhttp parser guards the untrusted
// input; this parser reads the pods' answers, and refuses anything ambiguous rather than guess.
import { METHODS } from 'node:http';

/** How a request body is sent upstream. */
export type RequestBody = 'none' | 'length' | 'chunked';

/** One chunk of the chunked coding. */
export function chunk(data: Buffer): Buffer[] {
  return [Buffer.from(`${data.length.toString(16)}\r\n`, 'latin1'), data, CRLF];
}
const CRLF = Buffer.from('\r\n', 'latin1');
export const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');

export interface ResponseHead {
  status: number;
  reason: string;
  /** Field names (lower case) and values, in order, as a flat [name, value, ...] list. */
  headers: string[];
  /** The upstream said it will close the connection after this response (or is HTTP/1.0). */
  close: boolean;
}

export interface ResponseSink {
  head(h: ResponseHead): void;
  body(data: Buffer): void;
  end(): void;
}

export class H1Error extends Error {}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/s;

/** Field values and reasons: visible ASCII, obs-text, space and tab; no other control characters. */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127) return true;
  }
  return false;
}
const HEX = /^[0-9a-fA-F]{1,13}$/;

/** Trims optional white space (space and tab only: String.trim would also take NBSP and others). */
function ows(v: string): string {
  let a = 0;
  let b = v.length;
  while (a < b && (v.charCodeAt(a) === 32 || v.charCodeAt(a) === 9)) a++;
  while (b > a && (v.charCodeAt(b - 1) === 32 || v.charCodeAt(b - 1) === 9)) b--;
  return v.slice(a, b);
}

/** A request in the fast path's subset: HTTP/1.1, origin-form target, no body, nothing unusual. */
export interface FastRequest {
  method: string;
  target: string;
  /** Field names (lower case) and values, as a flat [name, value, ...] list. */
  headers: string[];
  host: string;
  /** The client asked to close the connection after this response. */
  close: boolean;
}

const REQUEST_LINE = /^([A-Z]{1,20}) (\/[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*) HTTP\/1\.1$/;
// Fields that make a request leave the fast path: bodies, upgrades, expectations.
const NOT_FAST = new Set(['transfer-encoding', 'upgrade', 'expect', 'content-length']);
// Only methods llhttp parses (it refuses others with 400); CONNECT is a tunnel node:http closes.
const FAST_METHODS = new Set(METHODS.filter((m) => m !== 'CONNECT'));

/**
 * A `.` or `..` path segment, also percent-encoded (`%2e`, or behind an encoded `%2f`): routes
 * match paths decoded but unresolved, element by element, while the upstream may resolve
 * `/public/../admin` to `/admin`, so such a target is refused.
 */
export function dotSegment(target: string): boolean {
  const q = target.indexOf('?');
  let path = q >= 0 ? target.slice(0, q) : target;
  if (!path.includes('.') && !path.includes('%')) return false;
  path = path.replace(/%2e/gi, '.').replace(/%2f/gi, '/').replace(/%5c/gi, '\\');
  for (const seg of path.split(/[/\\]/)) if (seg === '.' || seg === '..') return true;
  return false;
}

/**
 * The head of a request (without its final CRLF CRLF) when it is in the fast path's strict
 * subset; undefined for anything else, which node:http then parses and answers as it always does
 * (bodies, upgrades, Expect, HTTP/1.0, absolute targets, odd bytes, too many fields, ...).
 */
export function fastRequest(head: string, maxFields: number): FastRequest | undefined {
  const lines = head.split('\r\n');
  const m = REQUEST_LINE.exec(lines[0]);
  if (!m || lines.length - 1 > maxFields || !FAST_METHODS.has(m[1]) || dotSegment(m[2])) return undefined;
  const headers: string[] = [];
  let host: string | undefined;
  let length = false;
  let close = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon).toLowerCase();
    if (!TOKEN.test(name)) return undefined;
    const value = ows(line.slice(colon + 1));
    if (hasControl(value)) return undefined;
    if (NOT_FAST.has(name) && !(name === 'content-length' && value === '0')) return undefined;
    if (name === 'content-length') {
      // llhttp refuses a second Content-Length even when equal.
      if (length) return undefined;
      length = true;
    }
    if (name === 'host') {
      if (host !== undefined) return undefined;
      host = value;
    } else if (name === 'connection') {
      for (const t of value.toLowerCase().split(',')) {
        const o = ows(t);
        if (o === 'close') close = true;
        else if (o === 'upgrade') return undefined;
      }
    }
    headers.push(name, value);
  }
  if (!host) return undefined;
  return { method: m[1], target: m[2], headers, host, close };
}

type State = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'close' | 'done';

/**
 * Parses the responses to the requests of one connection, one at a time: `expect` before each,
 * `feed` with every read, `eof` when the connection ends. Throws H1Error on a malformed response.
 */
export class ResponseParser {
  private state: State = 'done';
  private carry: Buffer | undefined;
  private remaining = 0;
  private noBody = false;
  private sink?: ResponseSink;
  private readonly maxHead: number;

  constructor(maxHead = 64 * 1024) {
    this.maxHead = maxHead;
  }

  /** The next response answers a request of this method. */
  expect(method: string, sink: ResponseSink): void {
    this.state = 'head';
    this.carry = undefined;
    this.noBody = method === 'HEAD';
    this.sink = sink;
  }

  /** No response started yet (nothing read since `expect`, or none expected). */
  get idle(): boolean {
    return (this.state === 'head' && !this.carry) || this.state === 'done';
  }

  get done(): boolean {
    return this.state === 'done';
  }

  /** Data after the end of the response (the upstream sent more than it was asked) is an error. */
  feed(buf: Buffer): void {
    const data = this.carry ? Buffer.concat([this.carry, buf]) : buf;
    this.carry = undefined;
    let at = 0;
    while (at < data.length) {
      const sink = this.sink as ResponseSink;
      switch (this.state) {
        case 'done':
          throw new H1Error('data after the response');
        case 'head': {
          const end = data.indexOf('\r\n\r\n', at, 'latin1');
          if (end < 0) {
            if (data.length - at > this.maxHead) throw new H1Error('response head too large');
            this.carry = data.subarray(at);
            return;
          }
          if (end - at > this.maxHead) throw new H1Error('response head too large');
          const head = this.parseHead(data.toString('latin1', at, end));
          at = end + 4;
          if (head === undefined) break; // an interim 1xx answer: the real one follows
          sink.head(head.head);
          this.startBody(head.framing);
          break;
        }
        case 'length': {
          const n = Math.min(this.remaining, data.length - at);
          sink.body(data.subarray(at, at + n));
          at += n;
          this.remaining -= n;
          if (this.remaining === 0) this.finish();
          break;
        }
        case 'close':
          sink.body(at === 0 ? data : data.subarray(at));
          at = data.length;
          break;
        case 'chunk-size': {
          const nl = data.indexOf('\r\n', at, 'latin1');
          if (nl < 0) {
            if (data.length - at > 4096) throw new H1Error('chunk size line too long');
            this.carry = data.subarray(at);
            return;
          }
          const line = data.toString('latin1', at, nl);
          const semi = line.indexOf(';');
          const size = (semi < 0 ? line : line.slice(0, semi)).trimEnd();
          if (!HEX.test(size) || hasControl(line)) throw new H1Error('bad chunk size');
          this.remaining = Number.parseInt(size, 16);
          at = nl + 2;
          this.state = this.remaining === 0 ? 'trailers' : 'chunk-data';
          break;
        }
        case 'chunk-data': {
          const n = Math.min(this.remaining, data.length - at);
          sink.body(data.subarray(at, at + n));
          at += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = 'chunk-crlf';
          break;
        }
        case 'chunk-crlf': {
          if (data.length - at < 2) {
            this.carry = data.subarray(at);
            return;
          }
          if (data[at] !== 13 || data[at + 1] !== 10) throw new H1Error('chunk not followed by CRLF');
          at += 2;
          this.state = 'chunk-size';
          break;
        }
        case 'trailers': {
          // Trailer fields are dropped (the client side re-frames the body); only their end matters.
          const nl = data.indexOf('\r\n', at, 'latin1');
          if (nl < 0) {
            if (data.length - at > this.maxHead) throw new H1Error('trailers too large');
            this.carry = data.subarray(at);
            return;
          }
          const empty = nl === at;
          at = nl + 2;
          if (empty) this.finish();
          break;
        }
      }
    }
  }

  /** The connection ended: the end of a close-delimited body, an error anywhere else but between responses. */
  eof(): void {
    if (this.state === 'close') {
      this.finish();
      return;
    }
    if (this.state !== 'done') throw new H1Error('connection closed before the response ended');
  }

  private finish(): void {
    this.state = 'done';
    this.sink?.end();
  }

  private startBody(f: { kind: 'none' } | { kind: 'length'; n: number } | { kind: 'chunked' } | { kind: 'close' }) {
    if (f.kind === 'none' || (f.kind === 'length' && f.n === 0)) this.finish();
    else if (f.kind === 'length') {
      this.state = 'length';
      this.remaining = f.n;
    } else if (f.kind === 'chunked') this.state = 'chunk-size';
    else this.state = 'close';
  }

  private parseHead(text: string) {
    const lines = text.split('\r\n');
    const m = STATUS_LINE.exec(lines[0]);
    if (!m || hasControl(lines[0])) throw new H1Error('bad status line');
    const status = Number(m[2]);
    if (status < 100) throw new H1Error('bad status code');
    const headers: string[] = [];
    let length: string | undefined;
    let lengthKept = false;
    let te: string | undefined;
    let close = m[1] === '0';
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      const colon = line.indexOf(':');
      if (colon <= 0) throw new H1Error('bad header line');
      const name = line.slice(0, colon).toLowerCase();
      // A name followed by white space, or a folded line, is refused (RFC 9112 §5.1, §5.2).
      if (!TOKEN.test(name)) throw new H1Error('bad header name');
      const value = ows(line.slice(colon + 1));
      if (hasControl(value)) throw new H1Error('bad header value');
      if (name === 'content-length') {
        for (const part of value.split(',')) {
          const v = part.trim();
          if (!/^\d{1,15}$/.test(v) || (length !== undefined && length !== v)) throw new H1Error('bad content-length');
          length = v;
        }
        // Passed on once, as a single value (RFC 9110 §8.6): clients refuse a list or a repeat.
        if (!lengthKept) headers.push(name, length as string);
        lengthKept = true;
        continue;
      } else if (name === 'transfer-encoding') te = te === undefined ? value : `${te}, ${value}`;
      else if (name === 'connection') {
        const opts = value.toLowerCase().split(',');
        if (opts.some((o) => o.trim() === 'close')) close = true;
        else if (m[1] === '0' && opts.some((o) => o.trim() === 'keep-alive')) close = false;
      }
      headers.push(name, value);
    }
    if (status < 200) {
      if (status === 101) throw new H1Error('101 to a request that did not ask to switch protocols');
      return undefined;
    }
    const head: ResponseHead = { status, reason: m[3] ?? '', headers, close };
    if (this.noBody || status === 204 || status === 304) return { head, framing: { kind: 'none' as const } };
    if (te !== undefined) {
      // HTTP/1.0 has no Transfer-Encoding: its framing cannot be trusted (RFC 9112 §6.1).
      if (m[1] === '0') throw new H1Error('Transfer-Encoding in an HTTP/1.0 response');
      // Beside Content-Length it hints at smuggling (§6.3): answered, never reused.
      if (length !== undefined) head.close = true;
      // Transfer-Encoding wins over Content-Length (RFC 9112 §6.3); only chunked as last coding keeps the connection.
      const codings = te.toLowerCase().split(',');
      // A Content-Length beside it is wrong and must not reach the client.
      for (let i = headers.length - 2; i >= 0; i -= 2) if (headers[i] === 'content-length') headers.splice(i, 2);
      if (codings[codings.length - 1].trim() === 'chunked') return { head, framing: { kind: 'chunked' as const } };
      head.close = true;
      return { head, framing: { kind: 'close' as const } };
    }
    if (length !== undefined) return { head, framing: { kind: 'length' as const, n: Number(length) } };
    head.close = true;
    return { head, framing: { kind: 'close' as const } };
  }
}
