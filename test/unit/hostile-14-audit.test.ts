import { describe, expect, it, vi } from 'vitest';
import { Alias, parseDocument } from 'yaml';
import { interpolateCompose, MAX_INTERPOLATED, redactUrlsIn } from '../../src/audit/scan.js';
import { imageOverrides, resolveAlias } from '../../src/audit/kustomize.js';

/**
 * Hostile pass 14 on today's audit features: Compose `${VAR}` interpolation from a crafted
 * `.env`, YAML merge keys in a kustomization's `images:`, credentials in scanned URLs.
 */

describe('Compose interpolation is bounded', () => {
  it('2000 ${A} of a 1 MB A is left as written (it threw "Invalid string length" and the audit died)', () => {
    const written = '${A}'.repeat(2000);
    const r = interpolateCompose(written, new Map([['A', 'x'.repeat(1_000_000)]]));
    expect(r.tooLong).toBe(true);
    expect(r.value).toBe(written);
  });

  it('a value just under the bound is interpolated', () => {
    const r = interpolateCompose('reg.example/${A}:1', new Map([['A', 'a'.repeat(MAX_INTERPOLATED - 20)]]));
    expect(r.tooLong).toBeUndefined();
    expect(r.value).toBe(`reg.example/${'a'.repeat(MAX_INTERPOLATED - 20)}:1`);
  });

  it('does not recurse: A=${B}, B=${A} stays one level deep, as Compose does', () => {
    const r = interpolateCompose('${A}', new Map([['A', '${B}'], ['B', '${A}']]));
    expect(r.value).toBe('${B}');
  });
});

describe('kustomize aliases are resolved once per document', () => {
  it('40 000 `<<: *base` entries are read without walking the document for each alias', () => {
    const lines = ['kind: Kustomization', 'x: &b {newTag: "1"}', 'images:'];
    for (let i = 0; i < 40_000; i++) lines.push(`- {<<: *b, name: n${i}}`);
    const doc = parseDocument(lines.join('\n'), { uniqueKeys: false });
    // yaml's Alias.resolve walks the whole document on each call: 360 000 walks of 200 000 nodes.
    const spy = vi.spyOn(Alias.prototype, 'resolve');
    try {
      const o = imageOverrides(doc.contents, doc);
      expect(o.length).toBe(40_000);
      expect(o[39_999]).toEqual({ index: 39_999, name: 'n39999', newName: undefined, newTag: '1', digest: undefined });
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });

  it('an alias names the last anchor of its name before it, as YAML says', () => {
    const doc = parseDocument('a: &x one\nb: *x\nc: &x two\nd: *x\n');
    const get = (k: string) => (resolveAlias(doc.get(k, true), doc) as { value?: unknown } | undefined)?.value;
    expect([get('b'), get('d')]).toEqual(['one', 'two']);
  });
});

describe('credentials in scanned URLs are masked', () => {
  it('user and password, a token as user name, a ?token= value, inside a longer text', () => {
    expect(redactUrlsIn('https://user:s3cret@github.com/org/repo//base?ref=v1')).toBe('https://***:***@github.com/org/repo//base?ref=v1');
    expect(redactUrlsIn('git::https://ghp_abc@github.com/org/repo.git')).toBe('git::https://***@github.com/org/repo.git');
    expect(redactUrlsIn('x.yaml:3 https://h.example/a?token=abc, pulled as y')).toBe('x.yaml:3 https://h.example/a?token=***, pulled as y');
    expect(redactUrlsIn('https://charts.example/stable')).toBe('https://charts.example/stable');
  });
});
