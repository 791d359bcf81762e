import pRetry, { AbortError } from 'p-retry';
import { FerryError } from '../errors.js';

/**
 * The one retry policy. Transient failures (connection reset, timeouts, 429, 5xx) are retried
 * with exponential backoff; a server's Retry-After wins over the backoff; a digest mismatch,
 * an auth failure or a 404 is never retried.
 */
export class RetryableError extends Error {
  readonly retryAfterMs?: number;
  /** What to do when the retries run out (the knob to loosen, say); a generic hint otherwise. */
  readonly hint?: string;
  constructor(message: string, opts: { retryAfterMs?: number; cause?: unknown; hint?: string } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'RetryableError';
    this.retryAfterMs = opts.retryAfterMs;
    this.hint = opts.hint;
  }
}

export interface RetryPolicy {
  retries: number;
  minTimeoutMs: number;
  maxTimeoutMs: number;
  /** Longest Retry-After honoured before giving up on that attempt. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  retries: Number(process.env.FERRY_RETRIES ?? 5),
  minTimeoutMs: Number(process.env.FERRY_RETRY_MIN_MS ?? 500),
  maxTimeoutMs: 30_000,
  maxRetryAfterMs: 120_000,
};

/** Parse a Retry-After header: seconds or an HTTP date. */
export function parseRetryAfter(value: string | string[] | undefined | null, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

export function isTransient(err: unknown): boolean {
  if (err instanceof RetryableError) return true;
  if (err instanceof FerryError) return false;
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: string }).code;
    if (code && TRANSIENT_CODES.has(code)) return true;
    if (e instanceof Error && /terminated|socket hang up|other side closed/i.test(e.message)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Run `fn` under the policy. `fn` receives the attempt number; a resumable download reads how
 * far it got from its own state, so each attempt continues with Range rather than starting over.
 */
export async function withRetry<T>(what: string, fn: (attempt: number) => Promise<T>, policy: RetryPolicy = DEFAULT_RETRY, onRetry?: (msg: string) => void): Promise<T> {
  const say = (msg: string) => onRetry?.(msg);
  // An error that names what failed already is not prefixed with it twice.
  const about = (err: unknown) => {
    const m = (err as Error).message;
    return m.startsWith(what) ? m : `${what}: ${m}`;
  };
  return pRetry(
    async (attempt) => {
      try {
        return await fn(attempt);
      } catch (err) {
        if (!isTransient(err)) throw new AbortError(err as Error);
        const after = err instanceof RetryableError ? err.retryAfterMs : undefined;
        if (after !== undefined) {
          if (after > policy.maxRetryAfterMs) {
            throw new AbortError(new FerryError('NETWORK', `${what}: server asked to retry after ${Math.round(after / 1000)} s, longer than ferry waits`, { cause: err, hint: 'Try again later.' }));
          }
          say(`${about(err)}; waiting ${Math.ceil(after / 1000)} s as the server asked`);
          await sleep(after);
        } else if (attempt <= policy.retries) {
          say(`${about(err)}; retrying (attempt ${attempt + 1} of ${policy.retries + 1})`);
        }
        throw err;
      }
    },
    {
      retries: policy.retries,
      minTimeout: policy.minTimeoutMs,
      maxTimeout: policy.maxTimeoutMs,
      randomize: true,
      shouldRetry: ({ error }) => isTransient(error),
    },
  ).catch((err: unknown) => {
    if (err instanceof FerryError) throw err;
    if (isTransient(err)) {
      throw new FerryError('NETWORK', `${about(err)} (gave up after ${policy.retries + 1} attempts)`, {
        cause: err,
        hint:
          (err instanceof RetryableError ? err.hint : undefined) ??
          'Check the network path to the registry or host, then run the command again: what already arrived (downloads, blobs on the target) is not fetched or sent again.',
      });
    }
    throw err;
  });
}
