// Kubernetes Status errors: every failure the API returns is one of these.

export interface Cause {
  reason?: string;
  message: string;
  field?: string;
}

export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details?: { name?: string; group?: string; kind?: string; causes?: Cause[]; retryAfterSeconds?: number };
  constructor(code: number, reason: string, message: string, details?: ApiError['details']) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }
  toStatus(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      details: this.details ?? {},
      code: this.code,
    };
  }
  /** The same error with the name, group and kind of the request's target where it had none. */
  withTarget(t: { name?: string; group?: string; kind?: string }): ApiError {
    const d = this.details ?? {};
    if (d.kind !== undefined || d.name !== undefined) return this;
    const details = { ...d };
    if (t.name !== undefined) details.name = t.name;
    if (t.group !== undefined) details.group = t.group;
    if (t.kind !== undefined) details.kind = t.kind;
    return new ApiError(this.code, this.reason, this.message, details);
  }
}

type Target = { kind: string; group: string; plural: string; name?: string };
const what = (t: Target) => (t.group ? `${t.plural}.${t.group}` : t.plural);

export const badRequest = (msg: string) => new ApiError(400, 'BadRequest', msg);
export const unauthorized = () => new ApiError(401, 'Unauthorized', 'Unauthorized');
export const forbidden = (msg: string) => new ApiError(403, 'Forbidden', msg);
export const notFound = (t: Target, name: string) =>
  new ApiError(404, 'NotFound', `${what(t)} "${name}" not found`, { name, group: t.group, kind: t.plural });
export const notFoundPath = (path: string) =>
  new ApiError(404, 'NotFound', `the server could not find the requested resource (${path})`);
export const methodNotAllowed = (msg: string) => new ApiError(405, 'MethodNotAllowed', msg);
export const alreadyExists = (t: Target, name: string) =>
  new ApiError(409, 'AlreadyExists', `${what(t)} "${name}" already exists`, { name, group: t.group, kind: t.plural });
export const conflict = (t: Target, name: string, msg: string) =>
  new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${what(t)} "${name}": ${msg}`, {
    name,
    group: t.group,
    kind: t.plural,
  });
export const gone = (msg: string) => new ApiError(410, 'Expired', msg);
export const tooLarge = (msg: string) => new ApiError(413, 'RequestEntityTooLarge', msg);
export const unsupportedMedia = (msg: string) => new ApiError(415, 'UnsupportedMediaType', msg);
export const internal = (msg: string) => new ApiError(500, 'InternalError', `Internal error occurred: ${msg}`);
export const serviceUnavailable = (msg: string) => new ApiError(503, 'ServiceUnavailable', msg);

/** Bounds a client-supplied string quoted in a message (a 200 KB name is not echoed four times). */
export function clip(s: string, max = 256): string {
  return s.length > max ? `${s.slice(0, max)}...(${s.length} bytes)` : s;
}

export function invalid(t: { kind: string; group: string }, name: string, causes: Cause[]): ApiError {
  name = clip(String(name));
  const msgs = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
  const list = msgs.length === 1 ? msgs[0] : `[${msgs.join(', ')}]`;
  return new ApiError(422, 'Invalid', `${t.kind}${t.group ? '.' + t.group : ''} "${name}" is invalid: ${list}`, {
    name,
    group: t.group,
    kind: t.kind,
    causes: causes.map((c) => ({ reason: c.reason ?? 'FieldValueInvalid', message: c.message, field: c.field })),
  });
}

/** Error collector used by validation: one entry per bad field, as Kubernetes reports them. */
export class Errs {
  readonly list: Cause[] = [];
  add(
    field: string,
    reason:
      | 'FieldValueRequired'
      | 'FieldValueInvalid'
      | 'FieldValueNotSupported'
      | 'FieldValueDuplicate'
      | 'FieldValueForbidden'
      | 'FieldValueTypeInvalid'
      | 'FieldValueTooLong'
      | 'FieldValueTooMany',
    message: string,
  ) {
    this.list.push({ field, reason, message: clip(message, 1024) });
  }
  required(field: string) {
    this.add(field, 'FieldValueRequired', 'Required value');
  }
  invalid(field: string, value: unknown, detail: string) {
    this.add(field, 'FieldValueInvalid', `Invalid value: ${clip(JSON.stringify(value) ?? 'null')}: ${detail}`);
  }
  get empty() {
    return this.list.length === 0;
  }
}
