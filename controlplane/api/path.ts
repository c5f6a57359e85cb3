// The request target, read as Kubernetes reads it: the raw path is split on '/' and each segment
// percent-decoded exactly once. Segments are names, never path operations, so '.', '..', empty
// segments, backslashes and encoded slashes are refused here instead of being resolved (a WHATWG
// URL parser would turn `configmaps/..` into the namespace and `configmaps/.` into the collection).
import { badRequest, notFoundPath } from './status.ts';

export interface RequestTarget {
  /** The raw path as sent (for messages). */
  raw: string;
  /** Decoded segments, without the leading empty one; a single trailing slash is dropped. */
  segments: string[];
  /** True when the path ended in '/'. */
  trailingSlash: boolean;
  query: URLSearchParams;
}

export function parseTarget(url: string): RequestTarget {
  const q = url.indexOf('?');
  const rawPath = q >= 0 ? url.slice(0, q) : url;
  const query = new URLSearchParams(q >= 0 ? url.slice(q + 1) : '');
  if (!rawPath.startsWith('/')) throw badRequest(`the request path must be absolute: ${printable(rawPath)}`);
  // A fragment is never part of a request target; '#' in a name must be sent as %23.
  if (rawPath.includes('#')) throw badRequest(`the request path may not contain '#': ${printable(rawPath)}`);
  if (rawPath.includes('\\')) throw badRequest(`the request path may not contain '\\': ${printable(rawPath)}`);
  let parts = rawPath.slice(1).split('/');
  const trailingSlash = parts.length > 1 && parts[parts.length - 1] === '';
  if (trailingSlash) parts = parts.slice(0, -1);
  if (parts.length === 1 && parts[0] === '') parts = [];
  const segments = parts.map((p) => {
    let d: string;
    try {
      d = decodeURIComponent(p);
    } catch {
      throw badRequest(`the request path has an invalid percent-encoding: ${printable(rawPath)}`);
    }
    if (d === '.' || d === '..') throw badRequest(`the path segment "${d}" may not be '.' or '..'`);
    if (d.includes('/')) throw badRequest(`a path segment may not contain '/': ${printable(d)}`);
    if (d.includes('\\')) throw badRequest(`a path segment may not contain '\\': ${printable(d)}`);
    return d;
  });
  if (segments.some((x) => x === '')) throw notFoundPath(printable(rawPath));
  return { raw: rawPath, segments, trailingSlash, query };
}

/** The path for messages: control characters escaped, length bounded. */
export function printable(s: string): string {
  const clean = JSON.stringify(s).slice(1, -1);
  return clean.length > 256 ? `${clean.slice(0, 256)}...` : clean;
}
