import path from 'node:path';
import { writeChunksAtomic } from '../store/temp-files.js';
import { escapeControls, escapeJson } from '../ui/escape.js';
import { jsonChunks, note, printResult } from '../ui/output.js';
import { humanBytes } from '../ui/progress.js';

/**
 * A command's result on stdout, or, with `-o <file>`, in that file: the same text (JSON or the
 * human rendering, control characters escaped as on stdout), written through a temporary name and
 * renamed, so a command that fails leaves nothing under the final name (a shell redirect leaves an
 * empty or half file there) and a reader never sees half a file. JSON is written piece by piece,
 * as on stdout (an audit report of tens of MB is never one string).
 */
export async function emitResult<T>(data: T, opts: { json?: boolean }, human: (d: T) => string, output: string | undefined): Promise<void> {
  if (output === undefined) return printResult(data, opts, human);
  let bytes = 0;
  const pieces = function* (): Generator<string> {
    if (opts.json) {
      for (const t of jsonChunks(data)) yield escapeJson(t);
      yield '\n';
      return;
    }
    const t = escapeControls(human(data));
    yield t.endsWith('\n') ? t : `${t}\n`;
  };
  await writeChunksAtomic(path.resolve(output), function* () {
    for (const p of pieces()) {
      bytes += Buffer.byteLength(p);
      yield p;
    }
  });
  note(`wrote ${escapeControls(output)} (${humanBytes(bytes)})`);
}
