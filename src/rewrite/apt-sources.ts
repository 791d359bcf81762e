import type { AptSourceEntry } from '../kinds/types.js';
import path from 'node:path';
import { FerryError } from '../errors.js';
import type { RewriteContext } from './context.js';
import { mapAptSiteKey } from '../mapping/index.js';
import { applyTextEdits, finishRewrite, readText, readTextIfExists, type FileChange, type Replacement, type RewriteResult, type TextEdit, type Unmapped } from './edits.js';
import { cutLastLineFrom } from '../ui/escape.js';

export interface RewriteAptSourcesOptions {
  /** Keyring path clients use for re-signed (filtered) mirrors (default: siteKeyringPath()). */
  signedBy?: string;
  output?: string;
  dryRun?: boolean;
  allowUnmapped?: boolean;
}

/** Where clients keep the site key that re-signed (filtered) mirrors are signed with (by default the binary form's name). */
export function siteKeyringPath(explicit?: string): string {
  return explicit ?? `/etc/apt/keyrings/${mapAptSiteKey('gpg').path}`;
}

/**
 * The site key a client downloads for `keyring`, on the mirror: apt reads a `.asc` keyring as
 * armored and ignores binary keys in it, so a `.asc` path gets the armored copy, anything else the binary.
 */
export function siteKeyFor(keyring: string, target: { baseUrl: string }): string {
  return mapAptSiteKey(keyring.toLowerCase().endsWith('.asc') ? 'asc' : 'gpg', target).url!;
}

interface Scan {
  edits: TextEdit[];
  replacements: Replacement[];
  unmapped: Unmapped[];
  /** `file:line` of source-package entries pointed at the mirror, which carries binary indexes only. */
  sourceEntries: string[];
  /** Entries pointed at the mirror that name components it does not carry (apt skips them, warning). */
  partial: string[];
}

/** Rewrite one URI; returns whether the repository is on the mirror and re-signed with the site key. */
function mapUri(uri: string, file: string, line: number, ctx: RewriteContext, scan: Scan, start: number, entry: AptSourceEntry): { resigned: boolean } | undefined {
  const found = ctx.lookupAptRepo(uri, entry);
  if (!found) {
    scan.unmapped.push({ file, line, kind: 'apt-repo', ref: uri, reason: 'repository not in the lock' });
    return undefined;
  }
  // Pointed at the mirror, a suite it does not carry fails `apt-get update` there (no Release).
  if (found.gap) {
    // A deb822 stanza lists several suites (Ubuntu's stock `noble noble-updates noble-backports`):
    // it is pointed at the mirror whole or not at all, and left as it is (--allow-unmapped) its
    // carried suites stay upstream too — unreachable behind the gap. Say which to drop.
    const kept = entry.suites.filter((s) => !ctx.lookupAptRepo(uri, { ...entry, suites: [s] })?.gap);
    const dropped = entry.suites.filter((s) => !kept.includes(s));
    const split =
      kept.length && dropped.length
        ? `; remove ${dropped.join(' ')} from this stanza's Suites: (or carry ${dropped.length === 1 ? 'it' : 'them'} in the manifest) to point ${kept.join(' ')} at the mirror — --allow-unmapped would leave ${kept.join(' ')} upstream as well`
        : '';
    scan.unmapped.push({ file, line, kind: 'apt-repo', ref: uri, reason: `repository mirrored, but not its ${found.gap}${split}` });
    return undefined;
  }
  if (found.partial) scan.partial.push(`${file}:${line} ${uri}: the mirror does not carry its ${found.partial}; apt skips them there with a warning`);
  if (found.url === 'mirror') return { resigned: found.resigned };
  const mirror = found.url;
  const replacement = uri.endsWith('/') && !mirror.endsWith('/') ? `${mirror}/` : mirror;
  scan.edits.push({ start, end: start + uri.length, text: replacement });
  scan.replacements.push({ file, line, kind: 'apt-repo', old: uri, new: replacement });
  return { resigned: found.resigned };
}

/** `deb [opt=val …] uri suite [component…]` lines. */
function scanOneLine(text: string, file: string, ctx: RewriteContext, keyring: string, scan: Scan): void {
  let offset = 0;
  text.split('\n').forEach((lineText, i) => {
    const lineStart = offset;
    offset += lineText.length + 1;
    const m = /^(\s*deb(?:-src)?\s+)(\[[^\]]*\]\s+)?(\S+)/.exec(lineText);
    if (!m) return;
    const line = i + 1;
    const uriStart = lineStart + m[1].length + (m[2]?.length ?? 0);
    const [suite, ...components] = cutLastLineFrom(lineText.slice(uriStart - lineStart + m[3].length), '#').trim().split(/\s+/).filter(Boolean);
    const entry = { types: [/^\s*deb-src\s/.test(lineText) ? 'deb-src' : 'deb'], suites: suite ? [suite] : [], components };
    const mapped = mapUri(m[3], file, line, ctx, scan, uriStart, entry);
    if (mapped && /^\s*deb-src\s/.test(lineText)) scan.sourceEntries.push(`${file}:${line}`);
    if (!mapped?.resigned) return;
    const opts = m[2];
    if (!opts) {
      scan.edits.push({ start: uriStart, end: uriStart, text: `[signed-by=${keyring}] ` });
      scan.replacements.push({ file, line, kind: 'signed-by', old: '(none)', new: keyring });
      return;
    }
    // The option itself, not one whose name ends so (`x-signed-by=`): that one's value was replaced and the real one kept.
    const sb = /(?<=[[\s])signed-by=(\S+?)(?=[\s\]])/.exec(opts);
    const optsStart = lineStart + m[1].length;
    if (sb) {
      if (sb[1] === keyring) return;
      const s = optsStart + sb.index + 'signed-by='.length;
      scan.edits.push({ start: s, end: s + sb[1].length, text: keyring });
      scan.replacements.push({ file, line, kind: 'signed-by', old: sb[1], new: keyring });
    } else {
      const close = optsStart + opts.lastIndexOf(']');
      scan.edits.push({ start: close, end: close, text: ` signed-by=${keyring}` });
      scan.replacements.push({ file, line, kind: 'signed-by', old: '(none)', new: keyring });
    }
  });
}

/** deb822 `.sources`: stanzas of `Field: value` with indented continuation lines. */
function scanDeb822(text: string, file: string, ctx: RewriteContext, keyring: string, scan: Scan): void {
  const lines = text.split('\n');
  const starts: number[] = [];
  let o = 0;
  for (const l of lines) starts.push(o), (o += l.length + 1);
  let i = 0;
  while (i < lines.length) {
    // One stanza: up to a blank line.
    if (!lines[i].trim()) {
      i++;
      continue;
    }
    const first = i;
    while (i < lines.length && lines[i].trim()) i++;
    const fields: Array<{ name: string; line: number; end: number }> = [];
    for (let j = first; j < i; j++) {
      if (/^[ \t]/.test(lines[j]) || lines[j].startsWith('#')) continue;
      const m = /^([A-Za-z0-9-]+):/.exec(lines[j]);
      if (!m) continue;
      let end = j;
      while (end + 1 < i && /^[ \t]/.test(lines[end + 1])) end++;
      fields.push({ name: m[1].toLowerCase(), line: j, end });
    }
    const uris = fields.find((f) => f.name === 'uris');
    const enabled = fields.find((f) => f.name === 'enabled');
    if (!uris || (enabled && /:\s*no\s*$/i.test(lines[enabled.line]))) continue;
    let allResigned = true;
    let anyMapped = false;
    const words = (name: string) => {
      const f = fields.find((x) => x.name === name);
      return f ? lines.slice(f.line, f.end + 1).join(' ').slice(lines[f.line].indexOf(':') + 1).trim().split(/\s+/).filter(Boolean) : [];
    };
    const entry = { types: words('types'), suites: words('suites'), components: words('components') };
    for (let j = uris.line; j <= uris.end; j++) {
      const body = j === uris.line ? lines[j].slice(lines[j].indexOf(':') + 1) : lines[j];
      const bodyStart = starts[j] + (lines[j].length - body.length);
      for (const u of body.matchAll(/\S+/g)) {
        const mapped = mapUri(u[0], file, j + 1, ctx, scan, bodyStart + u.index!, entry);
        if (mapped) anyMapped = true;
        if (!mapped?.resigned) allResigned = false;
      }
    }
    const types = fields.find((f) => f.name === 'types');
    if (anyMapped && types && /\bdeb-src\b/.test(lines.slice(types.line, types.end + 1).join(' '))) scan.sourceEntries.push(`${file}:${types.line + 1}`);
    if (!allResigned) continue;
    const sb = fields.find((f) => f.name === 'signed-by');
    if (sb) {
      const old = lines.slice(sb.line, sb.end + 1).join('\n');
      const valueStart = starts[sb.line] + lines[sb.line].indexOf(':') + 1;
      const oldValue = old.slice(old.indexOf(':') + 1).trim();
      if (oldValue === keyring) continue;
      // A CRLF file keeps its CR: the field's last line ends as it did.
      const cr = lines[sb.end].endsWith('\r') ? '\r' : '';
      const end = starts[sb.end] + lines[sb.end].length - cr.length;
      scan.edits.push({ start: valueStart, end, text: ` ${keyring}` });
      scan.replacements.push({ file, line: sb.line + 1, kind: 'signed-by', old: oldValue.includes('\n') ? '(inline key)' : oldValue, new: keyring });
    } else {
      const cr = lines[uris.end].endsWith('\r') ? '\r' : '';
      const at = starts[uris.end] + lines[uris.end].length - cr.length;
      scan.edits.push({ start: at, end: at, text: `${cr}\nSigned-By: ${keyring}` });
      scan.replacements.push({ file, line: uris.line + 1, kind: 'signed-by', old: '(none)', new: keyring });
    }
  }
}

/**
 * deb822 (`.sources`, or `Types:`/`URIs:` fields and no one-line entry). `[ \t]*`, not `\s*`:
 * with /m, `^\s*` runs across every blank line from every line start (quadratic in the line count).
 */
export function isDeb822(file: string, text: string): boolean {
  return file.endsWith('.sources') || (/^[ \t]*(Types|URIs)[ \t]*:/im.test(text) && !/^[ \t]*deb(-src)?\s/m.test(text));
}

/**
 * Point APT sources at the mirror: one-line `sources.list` and deb822 `.sources`. When the
 * mirror was re-signed with a site key, `Signed-By` names the site keyring.
 */
export async function rewriteAptSources(files: string[], ctx: RewriteContext, opts: RewriteAptSourcesOptions): Promise<RewriteResult> {
  if (!files.length) throw new FerryError('USAGE', 'rewrite apt-sources needs at least one sources file');
  if (!ctx.target.apt) throw new FerryError('USAGE', `${ctx.targetFile}: the target has no apt: {dir, baseUrl}; there is no APT mirror to point at`);
  if (opts.output && files.length > 1) throw new FerryError('USAGE', '-o takes one sources file; rewrite several in place');
  const keyring = siteKeyringPath(opts.signedBy);
  const changes: FileChange[] = [];
  const scan: Scan = { edits: [], replacements: [], unmapped: [], sourceEntries: [], partial: [] };
  for (const f of files) {
    const abs = path.resolve(f);
    const text = await readText(abs, 'APT sources file');
    const before = { edits: scan.edits.length };
    const deb822 = isDeb822(abs, text);
    if (deb822) scanDeb822(text, abs, ctx, keyring, scan);
    else scanOneLine(text, abs, ctx, keyring, scan);
    const after = applyTextEdits(text, scan.edits.slice(before.edits));
    const out = opts.output ? path.resolve(opts.output) : abs;
    changes.push({ file: out, before: out === abs ? text : await readTextIfExists(out), after });
  }
  const warnings: string[] = [...scan.partial];
  if (scan.replacements.some((r) => r.kind === 'signed-by')) {
    warnings.push(`re-signed mirrors: install the site key from ${siteKeyFor(keyring, ctx.target.apt)} as ${keyring} on every client`);
  }
  if (scan.sourceEntries.length) {
    warnings.push(
      `deb-src now points at the mirror, which carries binary packages only (no Sources index; apt update skips it with a warning): ${scan.sourceEntries.join(', ')} — comment the deb-src lines out, or drop deb-src from Types`,
    );
  }
  return finishRewrite(changes, scan.replacements, scan.unmapped, { ...opts, warnings });
}
