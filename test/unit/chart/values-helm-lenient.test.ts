import { describe, expect, it } from 'vitest';
import { parseValues } from '../../../src/kinds/chart/values.js';
import { FerryError } from '../../../src/errors.js';
import { parseYamlDocuments } from '../../../src/rewrite/yaml-text.js';

/**
 * A values file Helm reads is read: thumbor's chart writes a flow list whose items are indented
 * no deeper than its key, which Helm's go-yaml accepts and the YAML 1.2 reader refuses. Before,
 * ferry refused it saying "Helm would refuse it too", which was false. What Helm refuses too is
 * still refused with that hint.
 */
describe('values files Helm reads', () => {
  it('a flow list indented no deeper than its key is read as Helm reads it', () => {
    const text = 'thumbor:\n  image: { repository: thumbor/thumbor, tag: 7.7 }\n  private_containers: [\n  "a",\n  "b"\n  ]\n  replicas: 2\n';
    expect(parseValues(text, 'values.yaml')).toEqual({
      thumbor: { image: { repository: 'thumbor/thumbor', tag: '7.7' }, private_containers: ['a', 'b'], replicas: '2' },
    });
  });

  it('what Helm refuses too is refused, naming the line', () => {
    let err: unknown;
    try {
      parseValues('a: [1, 2\nb: {\n', 'values.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).message).toBe('values.yaml: not valid YAML');
    expect((err as FerryError).hint).toContain('Helm would refuse it too');
  });

  it('rewrite values, which edits YAML 1.2 in place, says Helm reads the file and what reads it as Helm does', () => {
    const text = 'thumbor:\n  private_containers: [\n  "a"\n  ]\n';
    let err: unknown;
    try {
      parseYamlDocuments(text, 'values.yaml');
    } catch (e) {
      err = e;
    }
    expect((err as FerryError).message).toBe('values.yaml: not valid YAML');
    expect((err as FerryError).hint).toContain("Helm's YAML reader (go-yaml) reads this file");
    expect((err as FerryError).hint).toContain('ferry rewrite chart');
  });
});
