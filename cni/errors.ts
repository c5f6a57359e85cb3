// CNI error results (spec section "Error"), printed on stdout with a non-zero exit.
import type { ErrorResult } from './types.ts';

export const CODES = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnv: 4,
  ioFailure: 5,
  decodeFailure: 6,
  invalidConfig: 7,
  tryAgain: 11,
  notAvailable: 50,
  notReady: 51,
  generic: 999,
} as const;

export class CniError extends Error {
  readonly code: number;
  readonly details: string;
  constructor(code: number, msg: string, details = '') {
    super(msg);
    this.code = code;
    this.details = details;
  }
  toJSON(cniVersion: string): ErrorResult {
    return { cniVersion, code: this.code, msg: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

/** The error result for a failed command: the request's cniVersion when it has one, else the newest. */
export function errorResult(e: unknown, stdin: string): ErrorResult {
  let version = '1.1.0';
  try {
    const v: unknown = JSON.parse(stdin).cniVersion;
    if (typeof v === 'string') version = v;
  } catch {
    /* the plugin has reported the bad configuration itself */
  }
  const err = e instanceof CniError ? e : new CniError(CODES.generic, (e as Error)?.message ?? String(e));
  return err.toJSON(version);
}
