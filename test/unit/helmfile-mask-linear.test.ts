import { describe, expect, it } from 'vitest';
import { maskTemplates } from '../../src/manifest/convert/helmfile.js';

/**
 * `ferry convert helmfile` masks template actions line by line; a helmfile is outside input (up to
 * the reader's 512 KiB). A long line of `{{` never closed, or of many actions after a `#`, was
 * quadratic (a lazy regex tried from every `{{`; the text before each action searched for `#`):
 * both are read in one pass now.
 */
describe('helmfile template masking is linear', () => {
  it('a 900 KB line of unclosed {{ is one structural part, at once', { timeout: 15_000 }, () => {
    const m = maskTemplates(`releases:\n  - name: ${'{{ '.repeat(300_000)}\n`);
    expect(m.structural).toHaveLength(1);
    expect(m.actions.size).toBe(0);
  });

  it('200 000 actions on one line with no #: each masked, at once (the text before each was searched for a #)', { timeout: 15_000 }, () => {
    const m = maskTemplates(`name: ${'{{x}}'.repeat(200_000)}\n`);
    expect(m.structural).toHaveLength(0);
    expect(m.actions.size).toBe(200_000);
  });

  it('ordinary actions are still masked, each to its placeholder', () => {
    const m = maskTemplates('releases:\n  - name: app\n    version: {{ .Values.v }}\n');
    expect(m.actions.size).toBe(1);
    expect([...m.actions.values()][0]).toEqual({ expr: '.Values.v', line: 3 });
    expect(m.text).toMatch(/version: ferry[0-9a-f]{12}t\d+x/);
  });
});
