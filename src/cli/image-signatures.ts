import { POLICY_FILE, type ImageSignatureSummary } from '../kinds/image/verify.js';
import { escapeLine } from '../ui/escape.js';

/** Verifier names (keys, certificate roots) shown on the line; the rest are counted (`--json` lists every rule). */
const VERIFIERS_SHOWN = 4;
/** Keyless notes ("Rekor inclusion not checked") shown one a line; the rest are counted. */
const NOTES_SHOWN = 20;

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function shown(names: string[], limit: number): string {
  const listed = names.slice(0, limit).map(escapeLine).join(', ');
  return names.length > limit ? `${listed} and ${names.length - limit} more` : listed;
}

/**
 * The human lines saying what the image signature policy checked (lock, bundle create, import,
 * bundle verify): how many images against which rules and keys, and what no rule covered (never
 * "verified" for an image that was not checked). `summary` undefined: no policy at all, said
 * with `none` (why there is none). Nothing when there are neither rules nor images.
 */
export function imageSignatureLines(summary: ImageSignatureSummary | undefined, notes: readonly string[], none: string): string[] {
  if (!summary?.rules.length) return summary?.images === 0 ? [] : [`image signatures: not checked (${none})`];
  const verifiers = [...new Set(summary.rules.flatMap((r) => r.verifiers))];
  const checked = summary.unchecked ? `${summary.verified} of ${plural(summary.images, 'image')}` : plural(summary.verified, 'image');
  const uncovered = summary.unchecked
    ? `; ${plural(summary.unchecked, 'image')} no rule covers, not checked: ${shown(summary.uncheckedRefs, summary.uncheckedRefs.length)}${summary.unchecked > summary.uncheckedRefs.length ? ` and ${summary.unchecked - summary.uncheckedRefs.length} more` : ''}`
    : '';
  const verdict = summary.verified ? 'all verified' : 'none checked';
  return [
    `image signatures: ${checked} checked against ${plural(summary.rules.length, 'rule')} (${shown(verifiers, VERIFIERS_SHOWN)}), ${verdict}${uncovered}`,
    ...notes.slice(0, NOTES_SHOWN).map((n) => `  note: ${escapeLine(n)}`),
    ...(notes.length > NOTES_SHOWN ? [`  … and ${notes.length - NOTES_SHOWN} more notes (--json lists them)`] : []),
  ];
}

/** Why lock and bundle create checked nothing. */
export const NO_MANIFEST_RULES = 'the manifest has no verify: rules';
/** Why import and bundle verify checked nothing. */
export const NO_BUNDLE_POLICY = "no image signature policy in this bundle's manifest: it had no verify: rules";

/**
 * Under a policy that passed at import or bundle verify: its rules and keys came in the bundle, so
 * unless the bundle signature was checked with --key nothing says who set them.
 */
export function policyOriginLines(summary: ImageSignatureSummary | undefined, signature: string): string[] {
  if (!summary?.rules.length || signature === 'verified') return [];
  const why = signature === 'unsigned' ? 'the bundle is not signed: ask its maker for a signed one' : "its signature was not checked: verify with --key <its maker's public key>";
  return [`  the rules and keys came in the bundle (${POLICY_FILE}), so nothing says who set them unless the bundle signature is checked; ${why}`];
}
