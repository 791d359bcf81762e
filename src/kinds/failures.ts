import { FerryError } from '../errors.js';
import { createLimit } from '../net/concurrency.js';
import type { ProgressTask } from '../ui/progress.js';
import type { KindContext } from './types.js';

/** One artifact that could not be resolved, with what it was (the spec) for typed attribution. */
export interface ResolveFailure {
  /** The artifact as its user names it: `docker.io/library/alpine:3.20`, `chart podinfo 6.5.0`, `files[tool]`. */
  artifact: string;
  error: FerryError;
  /** The spec that failed (the pipeline maps it back to where it came from, e.g. the chart that deploys an image). */
  subject?: unknown;
  /** Where the artifact came from when the manifest did not name it itself: `chart podinfo 6.5.0`. */
  origins?: string[];
}

/**
 * Some artifacts of a kind could not be resolved. Carries every failure and what did resolve,
 * so `lock` can go on with the rest (the images of the charts that did resolve) and report
 * every failure together at the end.
 */
export class ResolveFailures extends FerryError {
  readonly failures: ResolveFailure[];
  readonly resolved: unknown[];

  constructor(failures: ResolveFailure[], resolved: unknown[] = []) {
    const first = combineFailures(failures);
    super(first.code, first.message, { hint: first.hint, details: first.details, cause: first });
    this.failures = failures;
    this.resolved = resolved;
  }
}

/** Failures of a run, listed: a FerryError per artifact for a bug-free failure; anything else is a bug and is rethrown. */
export function failuresOf(err: unknown, artifact: string, subject?: unknown): ResolveFailure[] {
  if (err instanceof ResolveFailures) return err.failures;
  if (err instanceof FerryError) return [{ artifact, error: err, ...(subject !== undefined ? { subject } : {}) }];
  throw err;
}

/**
 * Resolve each spec on its own, under the concurrency bound, with a progress line per artifact;
 * one failure does not stop the others. Returns the results in spec order, or throws one
 * ResolveFailures with every failure (and the results that did resolve).
 */
export async function resolveEach<S, R>(
  specs: readonly S[],
  ctx: Pick<KindContext, 'progress' | 'concurrency'>,
  nameOf: (spec: S) => string,
  fn: (spec: S, task: ProgressTask) => Promise<R>,
  summary: (result: R) => string = () => 'resolved',
): Promise<R[]> {
  const limit = createLimit(ctx.concurrency);
  const failed: Array<{ index: number; list: ResolveFailure[] }> = [];
  const results: Array<{ ok: true; value: R } | undefined> = [];
  let bug: unknown;
  await Promise.all(
    specs.map((spec, i) =>
      limit(async () => {
        const name = nameOf(spec);
        const task = ctx.progress.start(name, 0);
        task.status('resolving');
        try {
          const r = await fn(spec, task);
          results[i] = { ok: true, value: r };
          task.finish(summary(r));
        } catch (err) {
          task.fail(err instanceof FerryError ? shortMessage(err.message, name) : 'unexpected error');
          try {
            failed.push({ index: i, list: failuresOf(err, name, spec).map((f) => ({ ...f, subject: f.subject ?? spec })) });
          } catch (e) {
            bug ??= e;
          }
        }
      }),
    ),
  );
  if (bug) throw bug;
  const resolved = results.filter((r) => r !== undefined).map((r) => r.value);
  // Listed in manifest order, whatever order they failed in.
  const failures = failed.sort((a, b) => a.index - b.index).flatMap((f) => f.list);
  if (failures.length) throw new ResolveFailures(failures, resolved);
  return resolved;
}

/** The message without the artifact name at its start (the progress line already names it). */
function shortMessage(message: string, name: string): string {
  return message.startsWith(`${name}: `) ? message.slice(name.length + 2) : message;
}

/** Whether the message already names the artifact (`chart shop` names `chart shop ^1.0`: the range is the last word). */
function names(message: string, artifact: string): boolean {
  const words = artifact.split(' ');
  return message.includes(artifact) || (words.length > 2 && message.includes(words.slice(0, -1).join(' ')));
}

function withOrigin(f: ResolveFailure): { message: string; hint?: string } {
  const message = names(f.error.message, f.artifact) ? f.error.message : `${f.artifact}: ${f.error.message}`;
  if (!f.origins?.length) return { message, hint: f.error.hint };
  const charts = [...new Set(f.origins)].sort().join(', ');
  return {
    message: `${message} (image deployed by ${charts})`,
    hint: `${f.error.hint ? `${f.error.hint} ` : ''}Set the chart's values so it deploys an image that exists, or give the chart \`images:\` as an explicit list (or \`none\`).`,
  };
}

/**
 * One error for every failure: a single failure is itself (with its origin); several are listed
 * in `details`, each with its own details and hint. The code (hence the exit code) is the first
 * failure's, in the order listed (images, charts, files, apt; manifest order within a kind).
 */
export function combineFailures(failures: ResolveFailure[]): FerryError {
  if (!failures.length) return new FerryError('INTERNAL', 'no failures to report');
  if (failures.length === 1) {
    const f = failures[0];
    const { message, hint } = withOrigin(f);
    if (message === f.error.message && hint === f.error.hint) return f.error;
    return new FerryError(f.error.code, message, { cause: f.error, details: f.error.details, hint });
  }
  const listed = failures.map(withOrigin);
  // One cause for all (the network is down): its hint once, not once per artifact.
  const shared = listed.every((l) => l.hint === listed[0].hint) ? listed[0].hint : undefined;
  const details = failures.map((f, i) => {
    const { message, hint } = listed[i];
    return [message, ...(f.error.details ?? []).map((d) => `    ${d}`), ...(hint && !shared ? [`    hint: ${hint}`] : [])].join('\n');
  });
  return new FerryError(failures[0].error.code, `${failures.length} artifacts could not be resolved`, {
    details,
    hint: `${shared ? `${shared} ` : ''}Fix each one listed, then run \`ferry lock\` again; no lock was written.`,
  });
}
