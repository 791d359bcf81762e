import { describe, expect, it } from 'vitest';
import { CONFIG_YAML_TOKENS, yamlTokensOver } from '../../../src/manifest/input-file.js';
import { parseYamlDocuments } from '../../../src/rewrite/yaml-text.js';

/**
 * A configuration file to rewrite or audit can come from outside (a vendor's manifests): the yaml
 * library needs ~1 KiB per token, so a few MB of dense YAML (a flow sequence of one-character
 * items) would take gigabytes and many seconds. Refused before parsing, naming the file.
 */
describe('configuration YAML denser than ferry parses', () => {
  it('a 2.4 MB list of one-character items is refused at once, naming the file, without parsing it', () => {
    const text = 'images:\n' + '- a\n'.repeat(CONFIG_YAML_TOKENS / 2 + 10);
    const before = process.memoryUsage().heapUsed;
    let err: unknown;
    try {
      parseYamlDocuments(text, 'vendor/dense.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'VALIDATION', message: expect.stringMatching(/^vendor\/dense\.yaml: YAML file has more than 1,000,000 YAML tokens/) });
    // Parsing it would have taken hundreds of MB; the count holds nothing.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 << 20);
  });

  it('real files are far below the bound: counting stops at the limit', () => {
    expect(yamlTokensOver('a: [1, 2, 3]\n', 9)).toBe(false);
    expect(yamlTokensOver('a: [1, 2, 3]\n', 5)).toBe(true);
    expect(parseYamlDocuments('image: nginx:1.25\n', 'ok.yaml')).toHaveLength(1);
  });
});
