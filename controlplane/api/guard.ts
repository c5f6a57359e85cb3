// Connection-level limits and the answers Node's HTTP parser would otherwise give itself:
// header read timeout, connections per client address, requests in flight, and Status bodies
// for requests the parser refuses (oversized headers, invalid methods, malformed framing) and
// for CONNECT. What cannot be answered with a Status is listed in docs/ARCHITECTURE.md.
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Server } from 'node:https';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { ApiError, badRequest, methodNotAllowed } from './status.ts';

/** Tunable limits (tests lower them before starting a server). */
export const limits = {
  /** Time to receive the request line and headers. */
  headersMs: 20_000,
  /** Longest pause between two chunks of a request body. */
  bodyIdleMs: 10_000,
  /** Longest time to receive a whole request body. */
  bodyTotalMs: 120_000,
  /** Requests being served at once, watches and other long-running requests excepted. */
  maxInflight: 400,
  /** Open connections from one client address. */
  maxConnsPerClient: 2048,
};

/** A raw HTTP/1.1 reply carrying a Status, then the connection is closed. */
export function rawStatus(e: ApiError): string {
  const body = JSON.stringify(e.toStatus());
  return (
    `HTTP/1.1 ${e.code} ${STATUS_CODES[e.code] ?? ''}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

function parserError(code: string | undefined): ApiError {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return new ApiError(431, 'RequestHeaderFieldsTooLarge', 'the request line or headers are too large');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new ApiError(408, 'Timeout', 'the request was not received in time');
    case 'HPE_INVALID_METHOD':
      return methodNotAllowed('the request method is not valid');
    default:
      return badRequest(`the request could not be parsed (${code ?? 'malformed'})`);
  }
}

export function installGuards(server: Server): void {
  server.headersTimeout = limits.headersMs;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    socket.end(rawStatus(parserError(err.code)));
  });
  // CONNECT has no meaning for the API; without a listener Node would drop the connection silently.
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => socket.destroy());
    socket.end(rawStatus(methodNotAllowed('CONNECT is not supported')));
  });
  const perClient = new Map<string, number>();
  server.on('secureConnection', (socket: TLSSocket) => {
    const who = socket.remoteAddress ?? '';
    const n = (perClient.get(who) ?? 0) + 1;
    perClient.set(who, n);
    socket.once('close', () => {
      const left = (perClient.get(who) ?? 1) - 1;
      if (left > 0) perClient.set(who, left);
      else perClient.delete(who);
    });
    if (n > limits.maxConnsPerClient) {
      socket.on('error', () => socket.destroy());
      socket.end(
        rawStatus(
          new ApiError(
            429,
            'TooManyRequests',
            `too many connections from this client (limit ${limits.maxConnsPerClient})`,
            { retryAfterSeconds: 1 },
          ),
        ),
      );
    }
  });
}

/** Counts requests in flight; `enter` answers false when the server is at its limit. */
export class Inflight {
  private n = 0;
  enter(): boolean {
    if (this.n >= limits.maxInflight) return false;
    this.n++;
    return true;
  }
  leave(): void {
    this.n--;
  }
}

export const tooManyRequests = () =>
  new ApiError(429, 'TooManyRequests', 'too many requests in flight, please try again later', {
    retryAfterSeconds: 1,
  });
