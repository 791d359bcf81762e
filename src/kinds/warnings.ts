import type { Progress } from '../ui/progress.js';

/**
 * A warning from a kind: into the command's result when the command collects them (the CLI
 * prints them, escaped, and `--json` carries them), else onto the progress log.
 */
export function warn(ctx: { warnings?: string[]; progress: Progress }, message: string): void {
  if (ctx.warnings) ctx.warnings.push(message);
  else ctx.progress.log(message);
}
