// The decoded body of a request, in the media type it was sent with.
import type { IncomingMessage } from 'node:http';
import { decodeBody, mediaType, readBody } from '../http.ts';

export async function requestBody(req: IncomingMessage): Promise<unknown> {
  return decodeBody(await readBody(req), mediaType(req));
}

/** The body's metadata.name, when it is an object that has one. */
export function bodyName(body: unknown): string | undefined {
  const meta = (body as { metadata?: { name?: unknown } } | null)?.metadata;
  return typeof meta?.name === 'string' ? meta.name : undefined;
}
