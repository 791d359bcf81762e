import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * DESIGN.md: "Adding a kind is that folder plus one entry in the KINDS list; nothing else in
 * src/ names a kind." Code outside src/kinds/<kind>/ that branches on a kind's name (`kind ===
 * 'chart'`, `case 'apt':`) is logic a KindModule hook should carry. The files below compare
 * another vocabulary that shares a word (an audit scanner's reference kind `image`/`url`/`oci`,
 * a values key kind, a Terraform attribute) or are known and listed for the lead.
 */
const OTHER_VOCABULARY: Record<string, string> = {
  'src/audit/ansible.ts': "a scanned reference's kind (image, url, apt, oci)",
  'src/audit/audit.ts': "a scanned reference's kind",
  'src/audit/charts.ts': "a scanned reference's kind",
  'src/audit/dockerfile.ts': "a scanned reference's kind",
  'src/audit/injected.ts': "a scanned reference's kind",
  'src/audit/joined-values.ts': "a scanned reference's kind (image, host)",
  'src/audit/podman.ts': "a scanned reference's kind",
  'src/audit/scan.ts': "a scanned reference's kind",
  'src/audit/unknown-host.ts': "a scanned reference's kind",
  'src/audit/inventory.ts': "an inventory row's kind (endpoint, mirrored)",
  'src/audit/terraform.ts': 'a Terraform attribute named image',
  'src/rewrite/chart.ts': 'a values key kind (image, repository, host)',
};

/** Known, not yet behind a KindModule hook (the design1 report lists them): file and the line's text. */
const KNOWN: Array<[file: string, text: string, why: string]> = [];

const KIND_NAMES = '(?:image|chart|apt|file|endpoint)';
// A kind-valued expression (`kind`, `x.kind`, `kindNameOf(top)`) compared with a kind's name.
const KIND_EXPR = String.raw`(?:\bkind\b|\bkindNameOf\([^)]*\))`;
const BRANCH = new RegExp(String.raw`${KIND_EXPR}\s*[!=]==\s*'${KIND_NAMES}'|'${KIND_NAMES}'\s*[!=]==\s*${KIND_EXPR}|case\s+'${KIND_NAMES}'\s*:`);
// The kinds themselves, and the manifest converters (which read other tools' kind words).
const OWN = /^src\/(?:kinds\/(?:image|chart|apt|file|endpoint)\/|manifest\/convert\/)/;

function sources(dir: string, root: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const abs = path.join(dir, e.name);
    if (e.isDirectory()) return sources(abs, root);
    return e.name.endsWith('.ts') ? [path.relative(root, abs).split(path.sep).join('/')] : [];
  });
}

describe('kinds are named only in their folders (DESIGN.md)', () => {
  it('no code outside src/kinds/<kind>/ branches on a kind name, but the listed other vocabularies', () => {
    const root = path.resolve(import.meta.dirname, '../..');
    const found: string[] = [];
    for (const file of sources(path.join(root, 'src'), root)) {
      if (OWN.test(file) || OTHER_VOCABULARY[file]) continue;
      readFileSync(path.join(root, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (BRANCH.test(line) && !KNOWN.some(([f, text]) => f === file && line.includes(text))) found.push(`${file}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(found).toEqual([]);
  });
});
