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

/** What an fs error code means, in words a user reads (never the raw `ENOENT`). */
const FILE_PROBLEMS: Record<string, { reason: string; hint: (what: string) => string }> = {
  ENOENT: { reason: 'no such file', hint: () => `Check the path; a relative path starts from ${process.cwd()}.` },
  EISDIR: { reason: 'is a directory, not a file', hint: (what) => `Pass the ${what} file itself, not the directory that holds it.` },
  ENOTDIR: { reason: 'a part of the path is a file, not a directory', hint: () => 'Check the path.' },
  EACCES: { reason: 'permission denied', hint: () => 'Check the permissions of the file and its directories for this user.' },
  EPERM: { reason: 'permission denied', hint: () => 'Check the permissions of the file and its directories for this user.' },
  ELOOP: { reason: 'too many symbolic links', hint: () => 'Check where the symbolic links in the path lead.' },
  ENAMETOOLONG: { reason: 'the path is too long', hint: () => 'Check the path.' },
};

/**
 * A file the user named (manifest, target, lock, values, key, CA, bundle) could not be read:
 * `<file>: cannot read <what>: no such file` with a hint, instead of a raw `ENOENT`.
 * `err` is the fs error, or its code when there is none (`'ENOENT'`). `hint` replaces the default hint (e.g. "key paths are relative to the manifest").
 */
export function unreadableFile(file: string, what: string, err: unknown, opts: { hint?: string; code?: ErrorCode } = {}): FerryError {
  const errno = typeof err === 'string' ? err : (err as NodeJS.ErrnoException | undefined)?.code;
  const known = errno ? FILE_PROBLEMS[errno] : undefined;
  const reason = known?.reason ?? (err instanceof Error ? err.message : String(err));
  return new FerryError(opts.code ?? 'USAGE', `${file}: cannot read ${what}: ${reason}`, { cause: typeof err === 'string' ? undefined : err, hint: opts.hint ?? known?.hint(what) });
}

/**
 * fn's result, with every Error made while it runs made without a stack trace. The yaml library
 * makes an Error per problem it finds, and a Helm template read as YAML has tens of thousands
 * (argo-cd's ApplicationSet CRD template: 56 530), each capturing a stack: ~100 MB and a third of
 * the parse's time, for messages of which ferry reads the first. For synchronous parses only.
 */
export function withoutStackTraces<T>(fn: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return fn();
  } finally {
    Error.stackTraceLimit = limit;
  }
}
