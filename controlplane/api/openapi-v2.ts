// /openapi/v2: a Swagger 2.0 document with no paths and no definitions, in JSON and in the
// protobuf form client-go asks for (the openapi.v2 Document message of the gnostic schema).
//
// Skiff's schemas are published as OpenAPI v3 (openapi.ts), which is what kubectl 1.32 reads to
// learn that every resource takes `fieldValidation`, so its objects are validated by the server.
// kubectl still fetches v2 for a kind no v3 document names (a `kind: List` manifest, as
// `kubectl get -o yaml` prints): without v2 it stops with "the server could not find the requested
// resource". With this document it finds no definitions, validates nothing on the client, and
// sends each item of the List on its own, where the server validates it strictly.

/** Document fields used here (openapi.v2 Document): swagger = 1, info = 2, paths = 8, definitions = 9. */
const DOCUMENT = { swagger: 1, info: 2, paths: 8, definitions: 9 } as const;
/** Info: title = 1, version = 2. */
const INFO = { title: 1, version: 2 } as const;

const TITLE = 'Kubernetes';
const VERSION = 'v1.32.0';

export const OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf';

export const openApiV2Json = JSON.stringify({
  swagger: '2.0',
  info: { title: TITLE, version: VERSION },
  paths: {},
  definitions: {},
});

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

/** One length-delimited field (wire type 2): a string or an embedded message. */
function field(num: number, bytes: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([...varint((num << 3) | 2), ...varint(bytes.length)]), bytes]);
}

const text = (s: string) => Buffer.from(s, 'utf8');

export const openApiV2Protobuf: Buffer = Buffer.concat([
  field(DOCUMENT.swagger, text('2.0')),
  field(DOCUMENT.info, Buffer.concat([field(INFO.title, text(TITLE)), field(INFO.version, text(VERSION))])),
  field(DOCUMENT.paths, Buffer.alloc(0)),
  field(DOCUMENT.definitions, Buffer.alloc(0)),
]);
