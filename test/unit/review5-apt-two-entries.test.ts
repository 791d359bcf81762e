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

  it('a component is carried per suite: `bookworm contrib` is not on the mirror because the -updates entry has contrib', () => {
    const match = aptKind.presentation.auditCarried({ specs, locked: [], registry: {} } as never);
    const ref = (suites: string[], components: string[]) => ({ kind: 'apt', value: url, apt: { types: ['deb'], suites, components } });
    expect(match(ref(['bookworm'], ['main', 'contrib']))).toEqual({ partial: `${url} is mirrored, but not component contrib (carried: main)` });
    expect(match(ref(['bookworm', 'bookworm-updates'], ['main', 'contrib']))).toEqual({ partial: `${url} is mirrored, but not component contrib of bookworm (carried there: main)` });
    expect(match(ref(['bookworm-updates'], ['main', 'contrib']))).not.toHaveProperty('partial');
  });

  it('rewrite apt-sources warns about the same line (the lookup it uses, from the lock)', () => {
    const locked = specs.map((s) => ({ name: s.name, url: s.url, mode: 'filtered', components: s.components, suites: s.suites.map((suite) => ({ suite })) }));
    const { lookupAptRepo } = aptKind.presentation.mirrorLookups(locked as never, { apt: { dir: '/srv/apt', baseUrl: 'http://mirror.internal/apt' } } as never);
    const look = (suites: string[], components: string[]) => lookupAptRepo(url, { types: ['deb'], suites, components });
    expect(look(['bookworm'], ['main', 'contrib'])).toMatchObject({ partial: 'component contrib (carried: main)' });
    expect(look(['bookworm-updates'], ['main', 'contrib'])).not.toHaveProperty('partial');
    expect(look(['bookworm-backports'], ['main'])).toMatchObject({ gap: 'suite bookworm-backports (carried: bookworm, bookworm-updates)' });
  });
});
