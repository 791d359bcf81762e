import path from 'node:path';
import { writeFileAtomic } from '../store/temp-files.js';
import { escapeControls, escapeJson } from '../ui/escape.js';
import { note, printResult, writeJson } from '../ui/output.js';
import { humanBytes } from '../ui/progress.js';

/**
 * A command's result on stdout, or, with `-o <file>`, in that file: the same text (JSON or the
 * human rendering, control characters escaped as on stdout), written whole through a temporary
 * name and renamed, so a command that fails leaves nothing under the final name (a shell
 * redirect leaves an empty or half file there) and a reader never sees half a file.
 */
export async function emitResult<T>(data: T, opts: { json?: boolean }, human: (d: T) => string, output: string | undefined): Promise<void> {
  if (output === undefined) return printResult(data, opts, human);
  let text: string;
  if (opts.json) {
    const parts: string[] = [];
    writeJson(data, (t) => parts.push(escapeJson(t)));
    text = `${parts.join('')}\n`;
  } else {
    const t = escapeControls(human(data));
    text = t.endsWith('\n') ? t : `${t}\n`;
  }
  const file = path.resolve(output);
  await writeFileAtomic(file, text);
  note(`wrote ${escapeControls(output)} (${humanBytes(Buffer.byteLength(text))})`);
}
