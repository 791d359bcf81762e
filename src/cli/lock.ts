import type { Command } from 'commander';
import { lockCheck, lockCommand, type LockResult } from '../commands/lock.js';
import { EXIT } from '../errors.js';
import { ALL_KINDS, type AnyKind } from '../kinds/index.js';
import { escapeLine } from '../ui/escape.js';
import { note, printResult } from '../ui/output.js';
import { netOptions, progressFor, withNetOptions, type CommonCliOptions } from './common.js';
import { shellQuote } from '../ui/shell-quote.js';
import { imageSignatureLines, NO_MANIFEST_RULES } from './image-signatures.js';

/** `3 images, 1 chart, 0 files, 0 apt repositories`: each kind with a lock list, in KINDS order, in its own words. */
export function countsText(counts: Record<string, number>, kinds: readonly AnyKind[] = ALL_KINDS): string {
  return kinds
    .filter((k) => k.lockSchema)
    .map((k) => {
      const n = counts[k.field] ?? 0;
      const noun = k.presentation?.countNoun ?? k.field;
      return `${n} ${n === 1 ? (k.presentation?.countNounOne ?? noun) : noun}`;
    })
    .join(', ');
}

export function register(program: Command): void {
  withNetOptions(
    program
      .command('lock')
      .description('pin every artifact the manifest names (tags → digests, platforms, blobs) into <name>.lock.json beside it')
      .argument('<manifest>', 'manifest YAML')
      .option('-o, --output <file>', 'write the lock here instead')
      .option('--no-extras', 'lock images without their signatures, attestations, SBOMs and referrers')
      .option('--cache <oci-url>', 'shared cache registry (oci://registry/ferry-cache) for manifests and blobs read by digest')
      .option('--cache-dir <dir>', 'download cache for what lock reads (chart archives, APT indexes; default $FERRY_CACHE_DIR/store or ~/.cache/ferry/store), as bundle create takes it')
      .option('--check', `write nothing, resolve nothing: exit ${EXIT.other} when the lock (beside the manifest, or -o) does not match the manifest, as bundle create --frozen would refuse it`),
  ).action(async (manifest: string, opts: CommonCliOptions & { output?: string; extras?: boolean; cache?: string; cacheDir?: string; check?: boolean }) => {
    if (opts.check) {
      const c = await lockCheck(manifest, { output: opts.output });
      printResult(c, opts, () => (c.upToDate ? `${c.lockFile}: up to date with the manifest` : ''));
      if (!c.upToDate) {
        note(`error: ${escapeLine(`${c.lockFile}: out of date: ${c.reason}`)}`);
        note(`hint: Run \`ferry lock ${shellQuote(manifest)}\` and commit the lock with the manifest.`);
        process.exitCode = EXIT.other;
      }
      return;
    }
    const progress = progressFor(opts);
    // The progress area is cleared before anything else prints, an error included.
    const warnings: string[] = [];
    let r: LockResult;
    try {
      r = await lockCommand(manifest, { ...netOptions(opts), progress, output: opts.output, noExtras: opts.extras === false, cache: opts.cache, cacheDir: opts.cacheDir, warnings });
    } catch (err) {
      progress.done();
      // What was said before the failure (a chart read from its values alone) may explain it.
      for (const w of warnings) note(`warning: ${escapeLine(w)}`);
      throw err;
    }
    progress.done();
    const { lock: _lock, ...summary } = r;
    printResult(opts.json ? summary : r, opts, () =>
      [
        `${r.changed ? 'wrote' : 'unchanged'} ${r.lockFile}: ${countsText(r.counts)}`,
        ...r.filtered.map((f) => `  ${f.ref}: keeps ${f.kept.join(', ')}${f.attestations ? ` + ${f.attestations} attestation manifest${f.attestations === 1 ? '' : 's'}` : ''}; stores index ${f.storedDigest} (upstream ${f.digest})`),
        ...changesText(r.changes),
        ...(r.changesNotListed ? [`  changes not listed: the previous lock is ${(r.changesNotListed / 1048576).toFixed(1)} MB, more than ferry compares beside the new one; compare the two in version control`] : []),
        ...imageSignatureLines(r.imageSignatures, r.signatureNotes, NO_MANIFEST_RULES),
      ].join('\n'),
    );
    for (const w of r.warnings) note(`warning: ${escapeLine(w)}`);
  });
}

/** The lines saying what a re-lock changed: `+` added, `-` removed, `~` updated (from → to). */
function changesText(changes: LockResult['changes']): string[] {
  if (!changes) return [];
  if (!changes.length) return ['  no artifact changed (only the lock\'s other fields did)'];
  const n = (c: string) => changes.filter((x) => x.change === c).length;
  return [
    `changes since the previous lock: ${n('updated')} updated, ${n('added')} added, ${n('removed')} removed`,
    ...changes.flatMap((c) => [
      escapeLine(
        c.change === 'updated'
          ? `  ~ ${c.kind} ${c.name}: ${c.from} → ${c.to}${c.charts ? ` (chart ${c.charts.join(', ')})` : ''}`
          : c.change === 'added'
            ? `  + ${c.kind} ${c.name}: ${c.to}${c.charts ? ` (chart ${c.charts.join(', ')})` : ''}${c.dependencyOf ? ` (a dependency of ${c.dependencyOf.join(', ')})` : ''}`
            : `  - ${c.kind} ${c.name}: ${c.from} (${c.charts ? `was deployed by chart ${c.charts.join(', ')}; ` : ''}${c.reason ?? 'no longer in the manifest'})`,
      ),
      // On a line of its own, marked: a reviewer must not read past it.
      ...(c.notes ?? []).map((n) => escapeLine(`    ! ${n}`)),
    ]),
  ];
}
