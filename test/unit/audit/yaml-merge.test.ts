import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { applyMergeKeys, mergedJS } from '../../../src/audit/yaml-merge.js';

/** The same text read by the yaml library with YAML 1.1 merge keys on: the reference for what a merging reader gives. */
const merging = (text: string) => parseDocument(text, { merge: true }).toJS({ maxAliasCount: 100 });
const ours = (text: string) => {
  const doc = parseDocument(text);
  return mergedJS(doc.contents as Parameters<typeof mergedJS>[0], doc);
};

describe('applyMergeKeys', () => {
  it('gives what a merging YAML reader gives: own keys win, the earlier map of a list wins, merges inside merged maps apply', () => {
    for (const text of [
      'a: &a { x: 1, y: 1 }\nb:\n  <<: *a\n  y: 2\n',
      'a: &a { x: 1, y: 1 }\nb:\n  y: 2\n  <<: *a\n',
      'a: &a { x: 1 }\nc: &c { x: 3, z: 3 }\nb:\n  <<: [*a, *c]\n',
      'base: &base { image: { tag: "1" } }\nmid: &mid\n  <<: *base\n  enabled: true\nleaf:\n  <<: *mid\n  name: x\n',
      'b:\n  <<: { sidecar: { enabled: true } }\n  image: app\n',
      'list:\n  - &j { image: ruby }\n  - <<: *j\n    script: [x]\n',
    ]) {
      expect(ours(text), text).toEqual(merging(text));
    }
  });

  it('a `__proto__` key merged in stays a key; a `<<` of a scalar is left as written; shared and cyclic objects are visited once', () => {
    const proto = ours('a: &a { "__proto__": { polluted: true } }\nb:\n  <<: *a\n') as { b: object };
    expect(Object.getPrototypeOf(proto.b)).toBe(Object.prototype);
    expect(Object.keys(proto.b)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(ours('b:\n  <<: 3\n  c: 1\n')).toEqual({ b: { '<<': 3, c: 1 } });
    const shared: Record<string, unknown> = { '<<': { x: 1 } };
    const cyclic: Record<string, unknown> = { a: shared, b: shared };
    cyclic.self = cyclic;
    applyMergeKeys(cyclic);
    expect(cyclic.a).toEqual({ x: 1 });
    expect(cyclic.self).toBe(cyclic);
  });

  it('a deep tree does not exhaust the stack', () => {
    let deep: Record<string, unknown> = { '<<': { leaf: true } };
    for (let i = 0; i < 100_000; i++) deep = { n: deep };
    applyMergeKeys(deep);
    let at: Record<string, unknown> = deep;
    while (at.n) at = at.n as Record<string, unknown>;
    expect(at).toEqual({ leaf: true });
  });
});
