import { describe, expect, it } from 'vitest';
import { parseGoYaml, parseGoYamlAll, YamlParseError } from '../../../../src/kinds/chart/render/goyaml.js';

/** A chart's values file or rendered text of 4 MiB (the largest chart file ferry reads) that would take gigabytes to parse. */
describe("a chart's YAML denser than ferry parses", () => {
  const dense = 'a: [' + '1,'.repeat(1_100_000) + '1]\n';
  it('is refused before parsing (values files and fromYaml)', () => {
    expect(() => parseGoYaml(dense)).toThrow(YamlParseError);
    expect(() => parseGoYaml(dense)).toThrow(/more than 1,000,000 YAML tokens/);
  });
  it('is refused before parsing (rendered manifests)', () => {
    expect(() => parseGoYamlAll(dense)).toThrow(/more than 1,000,000 YAML tokens/);
  });
  it('a large but ordinary document still parses', () => {
    const big = 'data:\n  text: "' + 'x'.repeat(2_000_000) + '"\n';
    expect((parseGoYaml(big) as { data: { text: string } }).data.text).toHaveLength(2_000_000);
  });
});
