// HTTP plumbing: bodies with a size limit, content types, query parsing and JSON responses.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseAllDocuments } from 'yaml';
import { ApiError, badRequest, tooLarge, unsupportedMedia } from './status.ts';
import { decodeProtobuf, ProtobufError } from './protobuf/decode.ts';
import { limits } from './guard.ts';

export const MAX_BODY = 3 * 1024 * 1024;
/** Deepest nesting a body may have: far beyond any real object, far below what recursion survives. */
export const MAX_DEPTH = 1000;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads a request body up to MAX_BODY, with a bound on the pause between chunks and on the
 * whole; a body that stops arriving is a 408 (and the connection is closed after the answer).
 */
export function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY) {
    req.resume();
    return Promise.reject(tooLarge('Request entity too large: limit is 3145728'));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let idle: NodeJS.Timeout;
    const fail = (e: ApiError) => {
      cleanup();
      req.resume();
      reject(e);
    };
    const timedOut = () => fail(new ApiError(408, 'Timeout', 'the request body was not received in time'));
    const total = setTimeout(timedOut, limits.bodyTotalMs);
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(timedOut, limits.bodyIdleMs);
    };
    const onData = (c: Buffer) => {
      arm();
      size += c.length;
      if (size > MAX_BODY) return fail(tooLarge('Request entity too large: limit is 3145728'));
      chunks.push(c);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onError = () => fail(badRequest('the request body could not be read'));
    const cleanup = () => {
      clearTimeout(idle);
      clearTimeout(total);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onError);
    arm();
  });
}

export function mediaType(req: IncomingMessage): string {
  return String(req.headers['content-type'] ?? 'application/json')
    .split(';')[0]
    .trim()
    .toLowerCase();
}

/** Decodes a JSON or YAML body (one document). */
export function decodeBody(buf: Buffer, type: string): unknown {
  if (type === 'application/vnd.kubernetes.protobuf') {
    try {
      return decodeProtobuf(buf);
    } catch (e) {
      if (e instanceof ProtobufError) {
        if (/not supported/.test(e.message)) throw new ApiError(415, 'UnsupportedMediaType', e.message);
        throw badRequest(`error decoding protobuf body: ${e.message}`);
      }
      throw e;
    }
  }
  let text: string;
  try {
    text = utf8.decode(buf);
  } catch {
    throw badRequest('error decoding request body: invalid UTF-8');
  }
  if (!text.trim()) throw badRequest('the body of the request was empty');
  if (type === 'application/json' || type.endsWith('+json') || type === '*/*' || type === '') {
    if (jsonDepth(text) > MAX_DEPTH)
      throw badRequest(`error decoding request body: nesting deeper than ${MAX_DEPTH} levels`);
    try {
      return JSON.parse(text);
    } catch (e) {
      throw badRequest(`error decoding request body: ${(e as Error).message}`);
    }
  }
  if (
    type === 'application/yaml' ||
    type === 'application/apply-patch+yaml' ||
    type === 'application/x-yaml' ||
    type === 'text/yaml'
  ) {
    // The YAML parser's time grows with the square of nesting: bound it before parsing.
    const nesting = yamlNesting(text);
    if (nesting > MAX_YAML_NESTING)
      throw badRequest(`error decoding YAML body: nesting deeper than ${MAX_YAML_NESTING} levels`);
    let value: unknown;
    try {
      const docs = parseAllDocuments(text);
      if (!Array.isArray(docs)) throw badRequest('error decoding YAML body');
      const real = docs.filter((d) => d.contents !== null);
      if (real.length !== 1)
        throw badRequest(`error decoding YAML body: expected exactly one document, found ${real.length}`);
      const d = real[0];
      if (d.errors.length) throw badRequest(`error converting YAML to JSON: ${d.errors[0].message.split('\n')[0]}`);
      value = d.toJS({ maxAliasCount: 100 });
    } catch (e) {
      if (e instanceof ApiError) throw e;
      // Alias bombs, undefined aliases, recursion limits: all the client's document.
      const msg = e instanceof RangeError ? 'the document is nested too deeply' : (e as Error).message;
      throw badRequest(`error converting YAML to JSON: ${String(msg).split('\n')[0]}`);
    }
    if (valueDepth(value) > MAX_DEPTH)
      throw badRequest(`error decoding YAML body: nesting deeper than ${MAX_DEPTH} levels`);
    return value;
  }
  throw unsupportedMedia(
    `the body of the request was in an unknown format - accepted media types include: application/json, ` +
      `application/yaml, application/vnd.kubernetes.protobuf`,
  );
}

export function sendJson(
  res: ServerResponse,
  code: number,
  body: unknown,
  extraHeaders: Record<string, string> = {},
  contentType = 'application/json',
) {
  const data = JSON.stringify(body);
  res.writeHead(code, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(data),
    'Cache-Control': 'no-cache, private',
    ...extraHeaders,
  });
  res.end(data);
}

export function sendError(res: ServerResponse, e: ApiError, warnings: string[] = []) {
  const extra: Record<string, string> = warningHeaders(warnings);
  // After a body timeout the rest of the body may still come: the connection cannot be reused.
  if (e.code === 408) extra.Connection = 'close';
  if (e.details?.retryAfterSeconds) extra['Retry-After'] = String(e.details.retryAfterSeconds);
  sendJson(res, e.code, e.toStatus(), extra);
}

export function warningHeaders(warnings: string[]): Record<string, string> {
  return warnings.length ? { Warning: warnings.map((w) => `299 - ${JSON.stringify(w)}`).join(', ') } : {};
}

/** Accept header parsing for Table requests: application/json;as=Table;v=v1;g=meta.k8s.io */
export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((part) => {
    const params = part.split(';').map((x) => x.trim());
    return (
      params.includes('as=Table') &&
      params.includes('g=meta.k8s.io') &&
      (params.includes('v=v1') || params.includes('v=v1beta1'))
    );
  });
}

export function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(Number(v)))
    throw badRequest(`invalid value for ${name}: "${v.slice(0, 64)}": must be an integer in range`);
  return Number(v);
}

/**
 * Deepest bracket nesting in JSON (or flow YAML) text, outside strings; counted without
 * recursion so that the check itself cannot overflow.
 */
export function jsonDepth(text: string): number {
  let depth = 0,
    max = 0,
    inString = false,
    quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \\ */) i++;
      else if (String.fromCharCode(c) === quote) inString = false;
      continue;
    }
    if (c === 34 /* " */) {
      inString = true;
      quote = '"';
    } else if (c === 123 || c === 91 /* { [ */) {
      if (++depth > max) max = depth;
    } else if (c === 125 || c === 93 /* } ] */) depth--;
  }
  return max;
}

/** Flow brackets, or block indentation in steps of two, a YAML body may nest. */
export const MAX_YAML_NESTING = 200;

/**
 * An estimate of a YAML text's nesting: the deepest flow bracket nesting outside quoted
 * scalars and comments, or the longest block prefix (indentation and "- " markers) over two.
 */
export function yamlNesting(text: string): number {
  let max = 0,
    flow = 0,
    quote = '',
    lineStart = true,
    prefix = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') {
      lineStart = true;
      prefix = 0;
      if (quote === "'" || quote === '"') continue;
      continue;
    }
    if (lineStart) {
      if (c === ' ' || c === '-' || c === '?' || c === '\t') {
        prefix++;
        if (prefix / 2 > max) max = prefix / 2;
        continue;
      }
      lineStart = false;
    }
    if (quote) {
      if (quote === '"' && c === '\\') i++;
      else if (c === quote) quote = '';
      continue;
    }
    const prev = i > 0 ? text[i - 1] : ' ';
    const tokenStart = prev === ' ' || prev === '[' || prev === '{' || prev === ',' || prev === ':' || prev === '\n';
    if ((c === '"' || c === "'") && tokenStart) quote = c;
    else if (c === '#' && (prev === ' ' || prev === '\n')) {
      const nl = text.indexOf('\n', i);
      i = nl < 0 ? text.length : nl - 1;
    } else if (c === '[' || c === '{') {
      if (++flow > max) max = flow;
    } else if ((c === ']' || c === '}') && flow > 0) flow--;
  }
  return max;
}

/** Deepest nesting of a decoded value, walked with an explicit stack. */
export function valueDepth(v: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (x === null || typeof x !== 'object') continue;
    if (d + 1 > max) max = d + 1;
    if (max > MAX_DEPTH) return max;
    for (const c of Array.isArray(x) ? x : Object.values(x)) stack.push([c, d + 1]);
  }
  return max;
}

export function boolParam(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v === 'true' || v === '1';
}
