/**
 * The one error type. The message names the artifact and the place; the hint says what to do.
 * The CLI boundary (src/cli/run.ts) turns it into a short message and an exit code.
 */
export type ErrorCode =
  | 'USAGE' // bad command line
  | 'VALIDATION' // bad manifest, target or lock
  | 'VERIFY' // digest/size/signature mismatch, damaged bundle
  | 'NETWORK' // connection, DNS, timeouts, 5xx after retries
  | 'AUTH' // 401/403, missing or wrong credentials
  | 'TLS' // untrusted certificate, handshake failure
  | 'NOT_FOUND' // upstream artifact does not exist
  | 'CONFLICT' // mapping collisions, lock out of date with --frozen
  | 'INTERNAL';

export class FerryError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  /** Extra lines (e.g. every validation problem) shown under the message. */
  readonly details?: string[];

  constructor(code: ErrorCode, message: string, opts: { hint?: string; cause?: unknown; details?: string[] } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'FerryError';
    this.code = code;
    this.hint = opts.hint;
    this.details = opts.details;
  }
}

/** Exit codes, documented in the README. */
export const EXIT = {
  ok: 0,
  other: 1,
  usage: 2,
  verify: 3,
  network: 4,
  findings: 5,
} as const;

export function exitCodeFor(err: unknown): number {
  if (!(err instanceof FerryError)) return EXIT.other;
  switch (err.code) {
    case 'USAGE':
    case 'VALIDATION':
      return EXIT.usage;
    case 'VERIFY':
      return EXIT.verify;
    case 'NETWORK':
    case 'AUTH':
    case 'TLS':
    case 'NOT_FOUND':
      return EXIT.network;
    default:
      return EXIT.other;
  }
}

export function isFerryError(err: unknown, code?: ErrorCode): err is FerryError {
  return err instanceof FerryError && (code === undefined || err.code === code);
}
