import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, visit, type Document } from 'yaml';
import { tryParseYamlDocumentAt } from '../../../src/rewrite/yaml-text.js';

/**
 * `rewrite manifests` reads back an object it edited in a big file by reading that one document
 * again at its place (rewrite/gitops-values.ts View): each document read alone must be what the
 * parse of the whole file gave — values, every node's range (edits are made by offset), anchors,
 * tags, the document's own range.
 */
const RENDERED = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../fixtures/charts/render');

function signature(d: Document): string {
  const nodes: unknown[] = [];
  visit(d, {
    Node(_k, n) {
      nodes.push([(n as { range?: unknown }).range, (n as { anchor?: string }).anchor ?? null, (n as { tag?: string }).tag ?? null]);
    },
  });
  return JSON.stringify([d.toJS({ maxAliasCount: -1 }), nodes, d.range]);
}

function compareAll(text: string): number {
  const docs = parseAllDocuments(text, { uniqueKeys: false, merge: true }) as Document.Parsed[];
  for (const d of docs) expect(d.errors).toEqual([]);
  for (const d of docs) expect(signature(tryParseYamlDocumentAt(text, d.range[0], d.range[2], { merge: true })!)).toBe(signature(d));
  return docs.length;
}

describe('a document read alone at its offset (perf62)', () => {
  it("every document of the rendered charts' fixtures is what the whole parse gives", () => {
    let n = 0;
    for (const chart of readdirSync(RENDERED, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name)) {
      for (const f of readdirSync(path.join(RENDERED, chart))) if (f.endsWith('.rendered.yaml')) n += compareAll(readFileSync(path.join(RENDERED, chart, f), 'utf8'));
    }
    expect(n).toBeGreaterThan(100);
  });

  it('documents with comments between them, anchors and merge keys, `...` ends, CRLF and a first one without ---', () => {
    const text = [
      '# leading comment',
      'a: &base { x: 1 }',
      'b:',
      '  <<: *base',
      '  y: 2',
      '# between',
      '---',
      '# inside',
      'kind: ConfigMap',
      'data:',
      '  k: |',
      '    line',
      '    ---not a marker',
      '...',
      '--- !!map',
      'c: "quoted\\nvalue"',
      '---',
      '- item',
      '- &i item2',
      '- *i',
      '',
    ].join('\n');
    expect(compareAll(text)).toBe(4);
    expect(compareAll(text.replace(/\n/g, '\r\n'))).toBe(4);
  });

  it('a slice that is not one whole document is no document', () => {
    const text = 'a: 1\n---\nb: 2\n';
    expect(tryParseYamlDocumentAt(text, 0, text.length)).toBeUndefined();
    expect(tryParseYamlDocumentAt('a: [1\n', 0, 6)).toBeUndefined();
  });
});
