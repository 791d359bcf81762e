import { isRunnerConfig, MAX_RUNNER_IMAGES, runnerImages } from '../audit/gitlab-runner.js';
import { parseImageReference } from '../oci/reference.js';
import type { RewriteContext } from './context.js';
import type { Replacement, TextEdit, Unmapped } from './edits.js';

/**
 * A GitLab runner's `config.toml` (audit/gitlab-runner.ts): each image it pulls (`image`,
 * `helper_image`, every service) replaced inside its TOML string by the mirror's, every other byte
 * kept. One the lock lacks, one with a variable (`${CI_RUNNER_REVISION}`, which the runner fills
 * in) and one written with an escape are named, left as written.
 */
export function rewriteRunnerConfig(file: string, text: string, ctx: RewriteContext): { edits: TextEdit[]; replacements: Replacement[]; unmapped: Unmapped[]; warnings: string[] } {
  const out = { edits: [] as TextEdit[], replacements: [] as Replacement[], unmapped: [] as Unmapped[], warnings: [] as string[] };
  if (!isRunnerConfig(file, text)) return out;
  const images = runnerImages(text);
  if (images.length >= MAX_RUNNER_IMAGES) out.warnings.push(`${file}: more than ${MAX_RUNNER_IMAGES} images in this runner configuration; only the first ${MAX_RUNNER_IMAGES} were read, the rest are left as written`);
  for (const r of images) {
    const where = `GitLab runner ${r.key}`;
    const name = (reason: string) => out.unmapped.push({ file, line: r.line, kind: 'image', ref: r.value, where, reason });
    if (r.value.includes('$')) {
      name('the runner fills in the variable in it when it runs, so the image is not known here: write the image the runner pulls (the one the mirror carries) in its place');
      continue;
    }
    if (r.escaped) {
      name('written with a TOML escape: not rewritten in place; write it without escapes, or set it to the mirror by hand');
      continue;
    }
    let look;
    try {
      look = ctx.lookupImage(parseImageReference(r.value.trim()));
    } catch {
      name('not a valid image reference');
      continue;
    }
    if (look.status === 'mirror') continue;
    if (look.status === 'unmapped') {
      name(look.reason);
      continue;
    }
    out.edits.push({ start: r.start, end: r.end, text: look.mirror });
    out.replacements.push({ file, line: r.line, kind: look.digestChanged ? 'digest' : 'image', old: r.value, new: look.mirror, where });
  }
  return out;
}
