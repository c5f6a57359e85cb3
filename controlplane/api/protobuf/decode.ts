// Decodes Kubernetes' protobuf encoding (the "k8s\0" envelope around runtime.Unknown) into the
// object's JSON form, for the typed clients (kubectl create, drain, client-go) that send it.
// Go writes every non-pointer field even when empty; JSON omits those, so zero values are
// dropped unless the field is a pointer.
import { MESSAGES, TOP_LEVEL, type Field } from './messages.ts';

export class ProtobufError extends Error {}

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

interface Raw {
  num: number;
  wire: number;
  varint?: bigint;
  bytes?: Buffer;
}

function readVarint(b: Buffer, pos: { i: number }): bigint {
  let r = 0n,
    shift = 0n;
  for (let n = 0; n < 10; n++) {
    if (pos.i >= b.length) throw new ProtobufError('truncated varint');
    const x = b[pos.i++];
    r |= BigInt(x & 0x7f) << shift;
    if (!(x & 0x80)) return r;
    shift += 7n;
  }
  throw new ProtobufError('varint too long');
}

function fields(b: Buffer): Raw[] {
  const out: Raw[] = [];
  const pos = { i: 0 };
  while (pos.i < b.length) {
    const key = readVarint(b, pos);
    const num = Number(key >> 3n),
      wire = Number(key & 7n);
    if (num === 0) throw new ProtobufError('field number 0');
    if (wire === 0) out.push({ num, wire, varint: readVarint(b, pos) });
    else if (wire === 2) {
      const len = Number(readVarint(b, pos));
      if (pos.i + len > b.length) throw new ProtobufError('truncated field');
      out.push({ num, wire, bytes: b.subarray(pos.i, pos.i + len) });
      pos.i += len;
    } else if (wire === 1) {
      pos.i += 8;
      out.push({ num, wire });
    } else if (wire === 5) {
      pos.i += 4;
      out.push({ num, wire });
    } else throw new ProtobufError(`unsupported wire type ${wire}`);
    if (pos.i > b.length) throw new ProtobufError('truncated field');
  }
  return out;
}

const isEmpty = (v: unknown) =>
  v === undefined ||
  v === '' ||
  v === 0 ||
  v === false ||
  (Array.isArray(v) && v.length === 0) ||
  (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0);

function toInt(v: bigint): number {
  // int32/int64 fields are two's complement varints.
  const n = v >= 1n << 63n ? v - (1n << 64n) : v;
  return Number(n);
}

function scalar(r: Raw, f: Field, where: string): unknown {
  switch (f.type) {
    case 'string':
      return need(r, 2, where).toString('utf8');
    case 'bytes':
      return need(r, 2, where).toString('base64');
    case 'int':
      if (r.wire !== 0) throw new ProtobufError(`${where}: expected a varint`);
      return toInt(r.varint!);
    case 'bool':
      if (r.wire !== 0) throw new ProtobufError(`${where}: expected a varint`);
      return r.varint !== 0n;
    case 'time': {
      const t = message(need(r, 2, where), 'Time', where);
      const secs = Number(t.seconds ?? 0);
      return secs ? new Date(secs * 1000).toISOString().replace(/\.\d+Z$/, 'Z') : undefined;
    }
    case 'quantity':
      return quantityOf(need(r, 2, where), where);
    case 'intstr': {
      const m = fields(need(r, 2, where));
      let type = 0,
        intVal = 0,
        strVal = '';
      for (const x of m) {
        if (x.num === 1) type = toInt(x.varint ?? 0n);
        else if (x.num === 2) intVal = toInt(x.varint ?? 0n);
        else if (x.num === 3) strVal = x.bytes?.toString() ?? '';
      }
      return type === 1 ? strVal : intVal;
    }
    default:
      return message(need(r, 2, where), f.type, where);
  }
}

function quantityOf(b: Buffer, where: string): string {
  for (const x of fields(b)) if (x.num === 1) return need(x, 2, where).toString();
  return '0';
}

function need(r: Raw, wire: number, where: string): Buffer {
  if (r.wire !== wire || !r.bytes) throw new ProtobufError(`${where}: unexpected wire type ${r.wire}`);
  return r.bytes;
}

function mapEntry(b: Buffer, valueType: string, where: string): [string, unknown] {
  let k = '',
    v: unknown = valueType === 'quantity' ? '0' : '';
  for (const x of fields(b)) {
    if (x.num === 1) k = need(x, 2, where).toString();
    else if (x.num === 2)
      v =
        valueType === 'bytes'
          ? need(x, 2, where).toString('base64')
          : valueType === 'quantity'
            ? quantityOf(need(x, 2, where), where)
            : need(x, 2, where).toString();
  }
  return [k, v];
}

function message(b: Buffer, type: string, where: string): Record<string, unknown> {
  if (type === 'Time') {
    const out: Record<string, unknown> = {};
    for (const x of fields(b)) if (x.num === 1) out.seconds = toInt(x.varint ?? 0n);
    return out;
  }
  const spec = MESSAGES[type];
  if (!spec) throw new ProtobufError(`${where}: message ${type} is not supported`);
  const out: Record<string, unknown> = {};
  for (const r of fields(b)) {
    const f = spec[r.num];
    const path = `${where}.${f?.name ?? r.num}`;
    if (!f) {
      // An unknown field is fine only when it holds Go's zero value.
      const zero = (r.wire === 0 && r.varint === 0n) || (r.wire === 2 && r.bytes!.length === 0);
      if (!zero)
        throw new ProtobufError(`field ${r.num} of ${type} (at ${where}) is not supported in protobuf; send JSON`);
      continue;
    }
    if (f.type.startsWith('map<')) {
      const [k, v] = mapEntry(need(r, 2, path), f.type.slice(11, -1), path);
      const m = (out[f.name] ??= {}) as Record<string, unknown>;
      m[k] = v;
      continue;
    }
    if (f.repeated && f.type === 'int' && r.wire === 2) {
      // A packed repeated integer (supplementalGroups): varints back to back.
      const list = (out[f.name] ??= []) as unknown[];
      const pos = { i: 0 };
      while (pos.i < r.bytes!.length) list.push(toInt(readVarint(r.bytes!, pos)));
      continue;
    }
    const v = scalar(r, f, path);
    if (f.repeated) ((out[f.name] ??= []) as unknown[]).push(v);
    else if (f.inline && v && typeof v === 'object') Object.assign(out, v);
    else if (v !== undefined && (f.ptr || !isEmpty(v))) out[f.name] = v;
  }
  for (const [k, v] of Object.entries(out)) {
    const f = Object.values(spec).find((x) => x.name === k);
    if (f && !f.ptr && isEmpty(v) && !Array.isArray(v)) delete out[k];
  }
  return out;
}

export function isProtobuf(buf: Buffer): boolean {
  return buf.length >= 4 && buf.subarray(0, 4).equals(MAGIC);
}

/** Decodes a protobuf request body into Kubernetes JSON (apiVersion, kind, metadata, ...). */
export function decodeProtobuf(buf: Buffer): Record<string, unknown> {
  if (!isProtobuf(buf)) throw new ProtobufError('missing the k8s protobuf envelope');
  const env = message(buf.subarray(4), 'Unknown', 'Unknown') as {
    typeMeta?: { apiVersion?: string; kind?: string };
    raw?: string;
    contentEncoding?: string;
  };
  const kind = env.typeMeta?.kind ?? '';
  if (!TOP_LEVEL.has(kind)) throw new ProtobufError(`protobuf bodies of kind "${kind}" are not supported; send JSON`);
  if (env.contentEncoding) throw new ProtobufError(`content encoding "${env.contentEncoding}" is not supported`);
  const body = message(Buffer.from(env.raw ?? '', 'base64'), kind, kind);
  return { apiVersion: env.typeMeta?.apiVersion, kind, ...body };
}
