import { describe, expect, it } from 'vitest';
import { aptKind } from '../../src/kinds/apt/index.js';

// One repository URL in two manifest entries (a suite each): the mirror carries both suites.
const url = 'http://deb.example/debian';
const specs = [
  { name: 'base', url, suites: ['bookworm'], components: ['main'], architectures: ['amd64'], packages: ['curl'] },
  { name: 'fixes', url, suites: ['bookworm-updates'], components: ['main', 'contrib'], architectures: ['amd64'], packages: ['curl'] },
];

describe('review5: an APT repository in two manifest entries', () => {
  it('audit counts the suites and components of every entry of the URL, as rewrite apt-sources does', () => {
    const match = aptKind.presentation.auditCarried({ specs, locked: [], registry: {} } as never);
    const ref = (suite: string, components: string[]) => ({ kind: 'apt', value: url, apt: { types: ['deb'], suites: [suite], components } });
    expect(match(ref('bookworm', ['main']))).not.toHaveProperty('partial');
    expect(match(ref('bookworm-updates', ['main']))).not.toHaveProperty('partial');
    expect(match(ref('bookworm-updates', ['contrib']))).not.toHaveProperty('partial');
    const missing = match(ref('bookworm-backports', ['main']));
    expect(missing).toEqual({ partial: `${url} is mirrored, but not suite bookworm-backports (carried: bookworm, bookworm-updates)` });
  });

  it('a repository below another listed one is judged by its own entry, not the shorter URL\'s', () => {
    const nested = [
      { name: 'debian', url, suites: ['bookworm'], components: ['main'], architectures: ['amd64'], packages: ['curl'] },
      { name: 'sub', url: `${url}/sub`, suites: ['stable'], components: ['main'], architectures: ['amd64'], packages: ['tool'] },
    ];
    const match = aptKind.presentation.auditCarried({ specs: nested, locked: [], registry: {} } as never);
    const sub = match({ kind: 'apt', value: `${url}/sub`, apt: { types: ['deb'], suites: ['stable'], components: ['main'] } } as never);
    expect(sub).not.toHaveProperty('partial');
  });
});
