import type { Readable } from 'node:stream';
import { FerryError } from '../errors.js';
import { RetryableError } from './retry.js';

/**
 * The low-speed limit (curl's --speed-limit / --speed-time): a response body whose bytes arrive
 * slower than `limitBytesPerSec` over a sliding window of `windowMs` is aborted with a
 * SlowTransferError, which the retry policy retries (a download resumes with Range). undici's
 * own bodyTimeout is only an idle timeout between chunks: a server dripping a byte a minute
 * never trips it.
 *
 * Defaults: under 1 KiB/s for 60 s. A real link that slow moves a 30 MiB layer in 8 hours,
 * which nobody waits for; a congested but working link dips below it for seconds, not a
 * minute. The window is long enough that TCP recovering from loss (retransmission timeouts
 * back off to tens of seconds) does not trip it. The same window bounds the wait for the
 * response headers of requests that carry no large body (nothing at all for a minute).
 *
 * Bodies read whole into memory (manifests, tokens, Release and Packages indexes, checksum
 * files, chart provenance) also get a total deadline per attempt (`wholeBodyMs`, default
 * 10 min): just above the limit, a 16 MiB manifest would otherwise take four and a half hours.
 * 10 min carries 64 MiB at ~110 KiB/s, a debian Packages.xz (~10 MiB) at ~17 KiB/s.
 */
export interface LowSpeedPolicy {
  /** Bytes per second the window must average; 0 turns the limit off. */
  limitBytesPerSec: number;
  windowMs: number;
  /** Total time, per attempt, for a body read whole into memory; 0 turns it off. */
  wholeBodyMs: number;
}

export const LOW_SPEED_ENV = { limit: 'FERRY_SPEED_LIMIT', window: 'FERRY_SPEED_TIME_MS', wholeBody: 'FERRY_WHOLE_BODY_TIMEOUT_MS' } as const;

export const LOW_SPEED_DEFAULTS: LowSpeedPolicy = { limitBytesPerSec: 1024, windowMs: 60_000, wholeBodyMs: 600_000 };

export const LOW_SPEED_HINT = `For a really slow link, lower ${LOW_SPEED_ENV.limit} (bytes per second; 0 turns the check off) or raise ${LOW_SPEED_ENV.window}; otherwise try another mirror or later.`;
export const WHOLE_BODY_HINT = `For a really slow link, raise ${LOW_SPEED_ENV.wholeBody} (milliseconds; 0 turns the deadline off); otherwise try another mirror or later.`;

/** The policy from FERRY_SPEED_LIMIT, FERRY_SPEED_TIME_MS and FERRY_WHOLE_BODY_TIMEOUT_MS; every bad value reported at once. */
export function lowSpeedFromEnv(env: NodeJS.ProcessEnv = process.env): LowSpeedPolicy {
  const problems: string[] = [];
  const read = (name: string, fallback: number, min: number): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const n = Number(raw.trim());
    if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min) {
      problems.push(`${name}=${JSON.stringify(raw.slice(0, 40))}: expected a whole number${min > 0 ? ` of at least ${min}` : ''}`);
      return fallback;
    }
    return n;
  };
  const policy = {
    limitBytesPerSec: read(LOW_SPEED_ENV.limit, LOW_SPEED_DEFAULTS.limitBytesPerSec, 0),
    windowMs: read(LOW_SPEED_ENV.window, LOW_SPEED_DEFAULTS.windowMs, 100),
    wholeBodyMs: read(LOW_SPEED_ENV.wholeBody, LOW_SPEED_DEFAULTS.wholeBodyMs, 0),
  };
  if (problems.length) {
    throw new FerryError('USAGE', `network settings: ${problems.join('; ')}`, {
      hint: `${LOW_SPEED_ENV.limit} is in bytes per second (0 = off), ${LOW_SPEED_ENV.window} and ${LOW_SPEED_ENV.wholeBody} in milliseconds.`,
    });
  }
  return policy;
}

/** A transfer too slow to wait for: retried under the policy; its hint names the knob. */
export class SlowTransferError extends RetryableError {
  constructor(message: string, hint: string) {
    super(message, { hint });
    this.name = 'SlowTransferError';
  }
}

/** What a watched body is (`GET https://…`, for messages) and the policy it is under, by body. */
const watched = new WeakMap<Readable, { label: string; policy: LowSpeedPolicy }>();

/** The label and policy of a body from HttpClient.request, if it is one. */
export function watchedBody(body: Readable): { label: string; policy: LowSpeedPolicy } | undefined {
  return watched.get(body);
}

function formatRate(bytes: number, ms: number): string {
  const perSec = ms > 0 ? (bytes * 1000) / ms : 0;
  return perSec < 10 ? `${perSec.toFixed(1)} B/s` : perSec < 10_240 ? `${Math.round(perSec)} B/s` : `${Math.round(perSec / 1024)} KiB/s`;
}

/** How often a window is checked: four times a window, at most once a second. */
export function speedTickMs(policy: LowSpeedPolicy): number {
  return Math.max(20, Math.min(1000, Math.floor(policy.windowMs / 4)));
}

/**
 * The sliding window of the low-speed check, fed (time, bytes so far) samples: says when the
 * last `windowMs` brought fewer than `limitBytesPerSec * windowMs / 1000` bytes.
 */
export class SpeedWindow {
  private samples: { t: number; n: number }[] = [];
  constructor(
    private readonly policy: LowSpeedPolicy,
    total: number,
  ) {
    this.restart(total);
  }

  /** Start over from `total` (the slow side is not the one watched, for now). */
  restart(total: number, now = Date.now()): void {
    this.samples = [{ t: now, n: total }];
  }

  /** Record `total`; the bytes and time of the full window that fell short, else undefined. */
  tooSlow(total: number, now = Date.now()): { bytes: number; ms: number } | undefined {
    const { windowMs, limitBytesPerSec } = this.policy;
    this.samples.push({ t: now, n: total });
    while (this.samples.length > 2 && now - this.samples[1].t >= windowMs) this.samples.shift();
    const first = this.samples[0];
    const ms = now - first.t;
    const bytes = total - first.n;
    return ms >= windowMs && bytes < (limitBytesPerSec * windowMs) / 1000 ? { bytes, ms } : undefined;
  }
}

/**
 * Watch a response body (undici's, or any Readable whose `push` receives the network's bytes)
 * and destroy it with a SlowTransferError once its last `windowMs` brought too few bytes. Time
 * the reader is the bottleneck (the body's buffer is full: a slow disk, a consumer busy
 * elsewhere) does not count against the server, nor does a body that has all its bytes.
 */
export function watchBody(body: Readable, policy: LowSpeedPolicy, label: string): void {
  watched.set(body, { label, policy });
  // All of a short body may have come with the headers: it has ended (Node says so only in its
  // state until someone reads the end), and nothing more is to be waited for.
  const ended = (body as { _readableState?: { ended?: boolean } })._readableState?.ended;
  if (policy.limitBytesPerSec <= 0 || ended || body.readableEnded || body.destroyed) return;
  // Bytes that came with the headers are in the buffer already (nothing has read them yet).
  let total = body.readableLength;
  const window = new SpeedWindow(policy, total);
  const push = body.push;
  body.push = function (this: Readable, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk === null) stop();
    else if (chunk) total += (chunk as { length: number }).length;
    return push.call(this, chunk, encoding);
  } as Readable['push'];
  const timer = setInterval(() => {
    if (body.readableLength >= body.readableHighWaterMark) return window.restart(total);
    const short = window.tooSlow(total);
    if (!short) return;
    stop();
    // Nobody reading yet: the error waits in the stream (`errored`) for the reader, not crash the process.
    if (body.listenerCount('error') === 0) body.once('error', () => undefined);
    body.destroy(
      new SlowTransferError(
        `${label}: too slow (${formatRate(short.bytes, short.ms)} over the last ${Math.round(short.ms / 1000)} s, ${total} bytes in all; the limit is ${policy.limitBytesPerSec} B/s over ${Math.round(policy.windowMs / 1000)} s)`,
        LOW_SPEED_HINT,
      ),
    );
  }, speedTickMs(policy));
  timer.unref();
  const stop = () => clearInterval(timer);
  body.once('end', stop);
  body.once('close', stop);
  body.once('error', stop);
}

/**
 * Give a body read whole into memory at most `ms` (from now): past it the body is destroyed
 * with a SlowTransferError naming `what`. Returns the function that stops the clock.
 */
export function wholeBodyDeadline(body: Readable, ms: number, what: string): () => void {
  if (ms <= 0) return () => undefined;
  const started = Date.now();
  const timer = setTimeout(() => {
    body.destroy(
      new SlowTransferError(`${what}: still arriving after ${Math.round((Date.now() - started) / 1000)} s; ferry waits at most ${Math.round(ms / 1000)} s for a whole answer of this kind`, WHOLE_BODY_HINT),
    );
  }, ms);
  timer.unref();
  const stop = () => clearTimeout(timer);
  body.once('close', stop);
  return stop;
}
