import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { SpeedWindow, lowSpeedFromEnv, speedTickMs, type LowSpeedPolicy } from '../net/low-speed.js';

/** HTTP answers shared by the registry and the kinds' routes, so every path answers the same way. */

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, head = false): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(head ? undefined : text);
}

/** OCI distribution error body: `{"errors":[{"code","message","detail"}]}`. */
export function sendError(res: ServerResponse, status: number, code: string, message: string, head = false, detail?: unknown): void {
  sendJson(res, status, { errors: [{ code, message, ...(detail === undefined ? {} : { detail }) }] }, {}, head);
}

/** A single `Range: bytes=…` header resolved against `size`; multi-range requests get the whole body. */
export type RangeAnswer = { status: 200 | 206; start: number; end: number } | { status: 416 };

export function resolveRange(range: string | undefined, size: number): RangeAnswer {
  const whole: RangeAnswer = { status: 200, start: 0, end: size - 1 };
  if (!range || range.includes(',')) return whole;
  // A unit other than bytes (`items=0-9`) is one this server does not have: RFC 9110 14.2 says
  // to ignore the header (the whole body), not to refuse it (416 told the client nothing exists).
  const unit = /^\s*([^=\s]*)\s*=/.exec(range);
  if (unit && unit[1].toLowerCase() !== 'bytes') return whole;
  const m = /^bytes=(\d*)-(\d*)$/i.exec(range.trim());
  if (!m || (m[1] === '' && m[2] === '')) return { status: 416 };
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix > 0 && size === 0) return whole; // satisfiable (RFC 9110 14.1.1), and no Content-Range can name bytes of nothing
    return suffix > 0 ? { status: 206, start: Math.max(0, size - suffix), end: size - 1 } : { status: 416 };
  }
  const start = Number(m[1]);
  const end = m[2] !== '' ? Math.min(Number(m[2]), size - 1) : size - 1;
  return start < size && start <= end ? { status: 206, start, end } : { status: 416 };
}

/**
 * The `Range` header to honour for an answer carrying `headers`: none when `If-Range` is there and
 * is not this answer's (strong) ETag (RFC 9110 13.1.5: the range is then ignored and the whole
 * body sent). A date in `If-Range` never matches: no Last-Modified is sent. apt resumes a partial
 * download with `Range` and `If-Range: <its partial file's date>`: a tree that changed since (a
 * directory target imported into while served) would otherwise hand it the tail of other bytes.
 */
export function rangeOf(req: IncomingMessage, headers: Record<string, string>): string | undefined {
  const range = req.headers.range;
  const raw = req.headers['if-range'];
  const ifRange = (Array.isArray(raw) ? raw.join(',') : raw)?.trim();
  if (range === undefined || ifRange === undefined) return range;
  return headers.ETag !== undefined && !ifRange.startsWith('W/') && ifRange === headers.ETag ? range : undefined;
}

/** Whether an `If-Match` / `If-None-Match` list names `etag` (`*` names any existing answer; weak comparison unless `strong`). */
function namesTag(list: string, etag: string | undefined, strong: boolean): boolean {
  if (list.trim() === '*') return true;
  if (etag === undefined) return false;
  return list.split(',').some((t) => {
    const tag = t.trim();
    if (strong) return !tag.startsWith('W/') && tag === etag;
    return tag.replace(/^W\//, '') === etag;
  });
}

/**
 * The preconditions of a GET/HEAD (RFC 9110 13.2.2): `If-Match` that does not name this answer's
 * ETag is 412; `If-None-Match` that does is 304 (nothing sent, the client has the bytes). Returns
 * true when it answered.
 */
export function answeredByPreconditions(req: IncomingMessage, res: ServerResponse, headers: Record<string, string>): boolean {
  const ifMatch = req.headers['if-match'];
  if (ifMatch !== undefined && !namesTag(ifMatch, headers.ETag, true)) {
    sendError(res, 412, 'PRECONDITION_FAILED', `If-Match ${JSON.stringify(ifMatch.slice(0, 200))}: not this answer's ETag${headers.ETag ? ` (${headers.ETag})` : ' (it has none)'}`, req.method === 'HEAD');
    return true;
  }
  const ifNoneMatch = req.headers['if-none-match'];
  if (ifNoneMatch !== undefined && namesTag(ifNoneMatch, headers.ETag, false)) {
    const { 'Content-Type': _type, ...kept } = headers;
    res.writeHead(304, kept);
    res.end();
    return true;
  }
  return false;
}

let sendPolicy: LowSpeedPolicy | undefined;

/** The low-speed limit for what `serve` sends (FERRY_SPEED_LIMIT, FERRY_SPEED_TIME_MS), read once. */
export function sendLowSpeed(): LowSpeedPolicy {
  return (sendPolicy ??= lowSpeedFromEnv());
}

/**
 * Close the connection of a client that takes a body slower than the limit over the window
 * (one that reads a byte now and then keeps its connection busy, which no idle timeout sees,
 * and holds one of `--max-connections`). Only time spent waiting on the client counts: the
 * window runs on a clock that advances only while the response is backed up (a tick that finds
 * it flowing — the source, a disk or an upstream registry, being the slow side — adds nothing),
 * and every byte the client took counts whenever it took it. Restarting the window on a flowing
 * tick instead let a client that takes a burst now and then (a drain seen at a tick) erase its
 * slow history and keep the connection forever. Returns the function that stops watching.
 */
export function watchSlowReader(res: ServerResponse, policy: LowSpeedPolicy): () => void {
  const socket = res.socket;
  if (policy.limitBytesPerSec <= 0 || !socket) return () => undefined;
  let clientTime = 0;
  let last = Date.now();
  const window = new SpeedWindow(policy, socket.bytesWritten);
  window.restart(socket.bytesWritten, clientTime);
  const timer = setInterval(() => {
    const now = Date.now();
    const elapsed = now - last;
    last = now;
    if (!res.writableNeedDrain) return;
    clientTime += elapsed;
    if (!window.tooSlow(socket.bytesWritten, clientTime)) return;
    clearInterval(timer);
    socket.destroy();
  }, speedTickMs(policy));
  timer.unref();
  const stop = () => clearInterval(timer);
  res.once('close', stop);
  return stop;
}

/**
 * Stream `size` bytes from `open(start, end)` honouring a single `Range: bytes=…` header
 * (206 + Content-Range; 416 when unsatisfiable; ignored when `If-Range` does not match, see
 * `rangeOf`) and the preconditions (`answeredByPreconditions`). Multi-range requests get the whole body.
 * Bodies from a bundle go through `VerifiedBlobs.send`, which calls this.
 */
export async function sendRanged(
  req: IncomingMessage,
  res: ServerResponse,
  size: number,
  open: (start: number, end: number) => Promise<NodeJS.ReadableStream>,
  headers: Record<string, string>,
  lowSpeed: LowSpeedPolicy = sendLowSpeed(),
): Promise<void> {
  const head = req.method === 'HEAD';
  if (answeredByPreconditions(req, res, headers)) return;
  const range = rangeOf(req, headers);
  const r = resolveRange(range, size);
  if (r.status === 416) {
    res.writeHead(416, { 'Content-Range': `bytes */${size}`, 'Content-Type': 'application/json', ...headers });
    res.end(head ? undefined : JSON.stringify({ errors: [{ code: 'RANGE_INVALID', message: `range ${range} not satisfiable for ${size} bytes` }] }));
    return;
  }
  const { status, start, end } = r;
  const length = size === 0 ? 0 : end - start + 1;
  res.writeHead(status, {
    'Content-Length': String(length),
    'Accept-Ranges': 'bytes',
    ...(status === 206 ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
    ...headers,
  });
  if (head || length === 0) {
    res.end();
    return;
  }
  const body = await open(start, end);
  const stop = watchSlowReader(res, lowSpeed);
  await pipeline(body, res).finally(stop).catch(() => {
    // The client went away mid-blob, the source failed, or the bytes did not match their
    // digest: drop the connection so the client sees a short body, never a complete 200.
    res.destroy();
  });
}
