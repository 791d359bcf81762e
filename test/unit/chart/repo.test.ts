import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { FerryError } from '../../../src/errors.js';
import { archiveUrl, sectionFromStream } from '../../../src/kinds/chart/repo-http.js';
import { pickVersion } from '../../../src/kinds/chart/resolve.js';

/** A large index in the layout `helm repo index` writes (list items at the key's indentation). */
function helmStyleIndex(charts: number, versions: number): string {
  const out = ['apiVersion: v1', 'entries:'];
  for (let c = 0; c < charts; c++) {
    out.push(`  chart-${c}:`);
    for (let v = versions; v > 0; v--) {
      out.push('  - annotations:', '      category: Infrastructure', '    apiVersion: v2', `    appVersion: 1.${v}.0`, `    created: "2026-01-0${(v % 9) + 1}T00:00:00Z"`);
      out.push('    description: |-', '      A chart.', '      entries: not a key', `    digest: ${String(c).padStart(4, '0')}${'a'.repeat(60)}`, `    name: chart-${c}`);
      out.push('    urls:', `    - https://charts.example.com/chart-${c}-1.${v}.0.tgz`, `    version: 1.${v}.0`);
    }
  }
  out.push('generated: "2026-01-01T00:00:00Z"');
  return out.join('\n') + '\n';
}

describe('HTTP repository index', () => {
  it('streams a large index and parses only the wanted chart', async () => {
    const text = helmStyleIndex(3000, 10); // ~ 12 MB
    expect(text.length).toBeGreaterThan(10_000_000);
    const got = await sectionFromStream(Readable.from([text]), 'chart-1234');
    const list = parseYaml(got.section!) as Array<{ name: string; version: string; digest: string }>;
    expect(list.map((e) => e.version)).toEqual(Array.from({ length: 10 }, (_, i) => `1.${10 - i}.0`));
    expect(list.every((e) => e.name === 'chart-1234' && e.digest.startsWith('1234'))).toBe(true);
    expect((await sectionFromStream(Readable.from([text]), 'chart-123')).section).not.toContain('chart-1234');
    expect(parseYaml((await sectionFromStream(Readable.from([text]), 'nope')).section!)).toBeNull();
  });

  it('reads the other common layout (list items indented under the key) and falls back to a full parse for JSON', async () => {
    const doc = { apiVersion: 'v1', entries: { a: [{ name: 'a', version: '1.0.0', urls: ['a-1.0.0.tgz'] }], b: [{ name: 'b', version: '2.0.0', urls: ['b.tgz'] }] } };
    const yamlStyle = await sectionFromStream(Readable.from([stringify(doc)]), 'a');
    expect(parseYaml(yamlStyle.section!)).toEqual(doc.entries.a);
    const json = await sectionFromStream(Readable.from([JSON.stringify(doc)]), 'b');
    expect((parseYaml(json.full!) as typeof doc).entries.b).toEqual(doc.entries.b);
  });

  it('follows the indentation the file uses for chart names', async () => {
    const text = 'apiVersion: v1\nentries:\n    alpha:\n      - name: alpha\n        version: 1.0.0\n        urls: [alpha-1.0.0.tgz]\n    beta:\n      - name: beta\n        version: 2.0.0\n        urls: [beta-2.0.0.tgz]\ngenerated: x\n';
    expect(parseYaml((await sectionFromStream(Readable.from([text]), 'beta')).section!)).toEqual([{ name: 'beta', version: '2.0.0', urls: ['beta-2.0.0.tgz'] }]);
    expect(parseYaml((await sectionFromStream(Readable.from([text]), 'alpha')).section!)).toEqual([{ name: 'alpha', version: '1.0.0', urls: ['alpha-1.0.0.tgz'] }]);
  });

  it('archive URLs may be relative to the repository or absolute', () => {
    const e = { name: 'x', version: '1.0.0', urls: ['charts/x-1.0.0.tgz'] };
    expect(archiveUrl('https://h.example/repo', e)).toBe('https://h.example/repo/charts/x-1.0.0.tgz');
    expect(archiveUrl('https://h.example/repo/', { ...e, urls: ['https://cdn.example/x.tgz'] })).toBe('https://cdn.example/x.tgz');
  });
});

describe('version selection', () => {
  const versions = ['25.4.0', '25.3.1', '25.10.0-rc.1', '24.9.9', 'v1.21.1', '2.14.2'];
  it('takes an exact version, else the newest match of a range (no prereleases)', () => {
    expect(pickVersion(versions, '25.3.1', 'chart k', 'repo')).toBe('25.3.1');
    expect(pickVersion(versions, '25.x', 'chart k', 'repo')).toBe('25.4.0');
    expect(pickVersion(versions, '^24', 'chart k', 'repo')).toBe('24.9.9');
    expect(pickVersion(versions, '>=1.21 <2', 'chart k', 'repo')).toBe('v1.21.1');
    expect(pickVersion(versions, '~2.14.0', 'chart k', 'repo')).toBe('2.14.2');
  });

  it('a range that matches nothing lists the versions that exist, newest first', () => {
    try {
      pickVersion(versions, '26.x', 'chart keycloak', 'oci://r/c');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(FerryError);
      const e = err as FerryError;
      expect(e.code).toBe('NOT_FOUND');
      expect(e.message).toBe('chart keycloak: no version matches "26.x" in oci://r/c');
      expect(e.details![0]).toBe('versions that exist (newest first): 25.10.0-rc.1, 25.4.0, 25.3.1, 24.9.9, 2.14.2, v1.21.1');
    }
  });
});
