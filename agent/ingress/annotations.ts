// The ingress annotations Skiff understands, parsed into typed values with strict validation.
// A value is never pasted into a configuration: each one is parsed to a boolean, a byte count or
// a duration, and anything else is refused with a message (the agent turns it into a Warning
// Event on the Ingress) while the default stays in force. Unknown `skiff.io/` keys are refused
// too, so a typo does not silently do nothing.

export const ANNOTATION_PREFIX = 'skiff.io/';

export interface IngressOptions {
  /** Answer plain HTTP for TLS hosts with a 308 to https (default true). */
  sslRedirect: boolean;
  /** Largest request body in bytes; 0 means no limit. */
  maxBodyBytes: number;
  /** Time to establish the TCP connection to an endpoint. */
  connectTimeoutMs: number;
  /** Longest wait for the upstream's response (and between its reads). */
  readTimeoutMs: number;
  /** A WebSocket with no traffic either way for this long is closed. */
  websocketIdleMs: number;
}

export const DEFAULT_OPTIONS: IngressOptions = {
  sslRedirect: true,
  maxBodyBytes: 1024 * 1024,
  connectTimeoutMs: 5_000,
  readTimeoutMs: 60_000,
  websocketIdleMs: 3_600_000,
};

export interface AnnotationProblem {
  annotation: string;
  message: string;
}

const MAX_BODY = 64 * 1024 ** 3;
const MAX_DURATION_MS = 24 * 3600 * 1000;

/** "true"/"false" only: "yes", "1" or "True " are refused rather than guessed at. */
function parseBool(v: string): boolean {
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new Error(`must be "true" or "false", not ${JSON.stringify(v)}`);
}

/** A byte count: digits with an optional k/m/g suffix (powers of 1024), as nginx writes them. */
export function parseSize(v: string): number {
  const m = /^(\d{1,12})([kKmMgG]?)$/.exec(v);
  if (!m) throw new Error(`must be a size like 512k, 8m or 1g, not ${JSON.stringify(v)}`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  const n = Number(m[1]) * unit;
  if (n > MAX_BODY) throw new Error(`must be at most 64g, not ${JSON.stringify(v)}`);
  return n;
}

/** A duration: digits with an optional ms/s/m/h suffix (plain digits are seconds). */
export function parseDuration(v: string): number {
  const m = /^(\d{1,9})(ms|s|m|h)?$/.exec(v);
  if (!m) throw new Error(`must be a duration like 500ms, 30s, 5m or 1h, not ${JSON.stringify(v)}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  const n = Number(m[1]) * unit;
  if (n <= 0) throw new Error(`must be greater than zero, not ${JSON.stringify(v)}`);
  if (n > MAX_DURATION_MS) throw new Error(`must be at most 24h, not ${JSON.stringify(v)}`);
  return n;
}

type Setter = (o: IngressOptions, v: string) => void;

const KNOWN: Record<string, Setter> = {
  'ssl-redirect': (o, v) => {
    o.sslRedirect = parseBool(v);
  },
  'proxy-body-size': (o, v) => {
    o.maxBodyBytes = parseSize(v);
  },
  'proxy-connect-timeout': (o, v) => {
    o.connectTimeoutMs = parseDuration(v);
  },
  'proxy-read-timeout': (o, v) => {
    o.readTimeoutMs = parseDuration(v);
  },
  'websocket-idle-timeout': (o, v) => {
    o.websocketIdleMs = parseDuration(v);
  },
};

/** The options of one Ingress from its annotations, and what was refused. */
export function parseAnnotations(annotations: Record<string, string> | undefined): {
  options: IngressOptions;
  problems: AnnotationProblem[];
} {
  const options = { ...DEFAULT_OPTIONS };
  const problems: AnnotationProblem[] = [];
  for (const [key, raw] of Object.entries(annotations ?? {})) {
    if (!key.startsWith(ANNOTATION_PREFIX)) continue;
    const name = key.slice(ANNOTATION_PREFIX.length);
    const set = Object.hasOwn(KNOWN, name) ? KNOWN[name] : undefined;
    if (!set) {
      problems.push({ annotation: key, message: 'unknown annotation, ignored' });
      continue;
    }
    try {
      set(options, typeof raw === 'string' ? raw : String(raw));
    } catch (e) {
      problems.push({ annotation: key, message: `${(e as Error).message}; ignored, the default applies` });
    }
  }
  return { options, problems };
}
