import { describe, expect, it } from 'vitest';
import { auditReferences } from '../../../src/audit/audit.js';
import { buildInventory } from '../../../src/audit/inventory.js';
import { buildConnectionModel } from '../../../src/audit/model.js';
import { renderReportHtml } from '../../../src/audit/render-html.js';
import type { ScanResult } from '../../../src/audit/scan.js';
import { countsText } from '../../../src/cli/lock.js';
import { bundleArtifacts, bundleUnsatisfied } from '../../../src/commands/report.js';
import { ALL_KINDS, type AnyKind } from '../../../src/kinds/index.js';
import { fileKind } from '../../../src/kinds/file/index.js';
import { validateManifest, type Lock } from '../../../src/kinds/schema.js';
import { isUnderUrl, type KindPresentation } from '../../../src/kinds/types.js';
import { createRewriteContext } from '../../../src/rewrite/context.js';

/**
 * A new kind is its folder and one entry in KINDS: the summaries of lock and bundle create, the
 * report's bundle tables and the audit's "carried" come from each kind's presentation. A fake
 * kind in a KINDS-like list shows up in all of them, and nothing else names it.
 */
interface Widget {
  url: string;
  serial: string;
}

const presentation: KindPresentation<Widget, Widget> = {
  countNoun: 'widget boxes',
  bundleTable: { title: 'Widgets', nameColumn: 'Widget', versionColumn: 'Serial', row: (w) => ({ name: w.url, version: w.serial, digest: '', size: 7 }) },
  unsatisfied: (w) => (w.serial === '0' ? [`${w.url}: needs a serial`] : []),
  mirrorLookups: (locked) => ({ lookupFileUrl: (url) => (locked.some((w) => w.url === url) ? `https://mirror.example/widgets${new URL(url).pathname}` : undefined) }),
  auditCarried: ({ specs }) => (r) => {
    const w = specs.find((s) => r.kind === 'url' && isUnderUrl(r.value, s.url));
    return w ? { mirror: `https://mirror.example/widgets/${w.serial}`, note: 'a widget' } : undefined;
  },
};
// Everything but its name, field and presentation borrowed: only those are looked at here.
const widgetKind = { ...fileKind, name: 'widget', field: 'widgets', presentation } as unknown as AnyKind;
const KINDS_PLUS = [...ALL_KINDS, widgetKind];

const widgets: Widget[] = [
  { url: 'https://widgets.example.org/a', serial: '42' },
  { url: 'https://widgets.example.org/b', serial: '0' },
];
const lock = { images: [], charts: [], files: [], apt: [], widgets } as unknown as Lock;

describe('a kind presents itself', () => {
  it('the built-in kinds keep their words: lock and bundle create print the same line as before', () => {
    expect(countsText({ images: 3, charts: 1, files: 0, apt: 2 })).toBe('3 images, 1 chart, 0 files, 2 apt repositories');
  });

  it('lock and bundle create count an extra kind in its own words, after the others', () => {
    expect(countsText({ images: 1, charts: 0, files: 2, apt: 0, widgets: 2 }, KINDS_PLUS)).toBe('1 image, 0 charts, 2 files, 0 apt repositories, 2 widget boxes');
  });

  it('a kind without a count noun is counted under its field name', () => {
    const bare = { ...widgetKind, presentation: undefined } as AnyKind;
    expect(countsText({ widgets: 5 }, [bare])).toBe('5 widgets');
  });

  it('the report lists an extra kind’s lock entries as its rows, with its table heading and columns', () => {
    const artifacts = bundleArtifacts(lock, KINDS_PLUS);
    expect(artifacts).toEqual([
      { kind: 'widget', name: 'https://widgets.example.org/a', version: '42', digest: '', size: 7 },
      { kind: 'widget', name: 'https://widgets.example.org/b', version: '0', digest: '', size: 7 },
    ]);
    expect(bundleArtifacts(lock)).toEqual([]);
    expect(bundleUnsatisfied(lock, KINDS_PLUS)).toEqual(['https://widgets.example.org/b: needs a serial']);

    const loaded = { manifest: validateManifest({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'w' } }, 'inline'), file: 'w.yaml', dir: '.', digest: 'sha256:x' };
    const html = renderReportHtml(
      {
        generator: 'ferry test',
        manifestFile: 'w.yaml',
        inventory: buildInventory(buildConnectionModel(loaded)),
        auditPaths: [],
        warnings: [],
        bundle: { path: 'w.tar', formatVersion: 1, ferryVersion: 'test', manifestName: 'w', tarSize: 1, blobs: 0, blobBytes: 0, topLevel: 2, artifacts, unsatisfied: [], signed: false },
      },
      KINDS_PLUS,
    );
    expect(html).toContain('<h3>Widgets (2)</h3>');
    expect(html).toContain('<th>Widget</th><th>Serial</th><th>Digest</th><th>Size</th>');
    expect(html).toContain('https://widgets.example.org/b');
    // Without the kind in the list, its rows have no table.
    expect(renderReportHtml({ generator: 'ferry test', manifestFile: 'w.yaml', inventory: buildInventory(buildConnectionModel(loaded)), auditPaths: [], warnings: [], bundle: { path: 'w.tar', formatVersion: 1, ferryVersion: 'test', manifestName: 'w', tarSize: 1, blobs: 0, blobBytes: 0, topLevel: 2, artifacts, unsatisfied: [], signed: false } })).not.toContain('Widgets');
  });

  it('the audit asks an extra kind whether it carries a reference', () => {
    const loaded = { manifest: validateManifest({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'w' } }, 'inline'), file: 'w.yaml', dir: '.', digest: 'sha256:x' };
    const model = buildConnectionModel(loaded);
    model.entries.widgets = widgets;
    const scan: ScanResult = {
      files: [],
      settings: [],
      references: [
        { file: 'deploy.yaml', line: 1, kind: 'url', value: 'https://widgets.example.org/a/manual.pdf' },
        { file: 'deploy.yaml', line: 2, kind: 'url', value: 'https://widgets.example.org/c' },
      ],
    };
    const with_ = auditReferences(model, undefined, scan, { manifestFile: 'w.yaml', kinds: KINDS_PLUS });
    expect(with_.findings.map((f) => [f.line, f.class, f.mirror ?? '', f.note ?? ''])).toEqual([
      [1, 'mirrored', 'https://mirror.example/widgets/42', 'a widget'],
      [2, 'undeclared', '', ''],
    ]);
    const without = auditReferences(model, undefined, scan, { manifestFile: 'w.yaml' });
    expect(without.findings.map((f) => f.class)).toEqual(['undeclared', 'undeclared']);
  });

  it('rewrite asks each kind in the list for its lookups; the built-in kinds still answer theirs', () => {
    const target = { apiVersion: 'ferry/v1alpha1', kind: 'MirrorTarget', metadata: { name: 't' }, registry: { url: 'https://r.internal', layout: 'nested', insecure: false } } as never;
    const withImage = { ...lock, images: [{ ref: 'quay.io/a/b:1.0', digest: `sha256:${'1'.repeat(64)}` }] } as unknown as Lock;
    const ctx = createRewriteContext(target, withImage, 't.yaml', KINDS_PLUS);
    expect(ctx.lookupFileUrl('https://widgets.example.org/a')).toBe('https://mirror.example/widgets/a');
    expect(ctx.lookupImage('quay.io/a/b:1.0')).toMatchObject({ status: 'mapped', mirror: 'r.internal/quay.io/a/b:1.0' });
    expect(ctx.registries).toEqual(['quay.io']);
    // Without it, nothing answers for widgets.
    expect(createRewriteContext(target, withImage, 't.yaml').lookupFileUrl('https://widgets.example.org/a')).toBeUndefined();
  });
});
