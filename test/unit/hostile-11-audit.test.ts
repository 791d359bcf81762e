import { describe, expect, it } from 'vitest';
import { runtimeMirrors } from '../../src/audit/audit.js';
import type { ScanResult } from '../../src/audit/scan.js';

/**
 * Hostile pass 11: a crafted containerd hosts.toml that made `audit` call an upstream
 * "mirrored" although pulls do not go to the target's registry.
 *
 * What tripped (each was "mirrored" before):
 * - a `[host."…"]` on the mirror's host name but another port, or `http://` where the registry
 *   is https (another service, or a connection that fails over to the upstream);
 * - a `[host."…"]` whose `capabilities` exclude pull/resolve (containerd resolves and pulls at
 *   the next host: the upstream `server`);
 * - the table header written inside a multi-line string (the line scanner read it as a table);
 * - a `server = "<mirror>"` inside another table (not containerd's `server`): "no fallback" was
 *   claimed while the upstream stays the server.
 */
const REGISTRY = 'https://mirror.site.example:5000';
const TARGET_HOSTS = new Set(['mirror.site.example']);
const scan = (text: string): ScanResult => ({ files: [{ file: 'certs.d/registry.k8s.io/hosts.toml', text, type: 'toml' }], settings: [], references: [], skipped: [] }) as unknown as ScanResult;
const mirrorOf = (text: string) => runtimeMirrors(scan(text), TARGET_HOSTS, REGISTRY).get('registry.k8s.io');

describe('hosts.toml that only looks like mirror config', () => {
  it('the real thing is mirrored (control)', () => {
    expect(mirrorOf('server = "https://registry.k8s.io"\n[host."https://mirror.site.example:5000/v2/ferry/registry.k8s.io"]\n  capabilities = ["pull", "resolve"]\n  override_path = true\n')).toMatchObject({ mirrors: ['https://mirror.site.example:5000/v2/ferry/registry.k8s.io'], fallback: true });
    expect(mirrorOf('[host."mirror.site.example:5000"]\n')).toMatchObject({ mirrors: ['mirror.site.example:5000'] });
    expect(mirrorOf('server = "https://mirror.site.example:5000"\n')).toMatchObject({ fallback: false });
  });

  it.each([
    ['another port', '[host."https://mirror.site.example:6666"]\n'],
    ['the default port (registry on :5000)', '[host."https://mirror.site.example"]\n'],
    ['http where the registry is https', '[host."http://mirror.site.example:5000"]\n'],
    ['userinfo', '[host."https://mirror.site.example:5000@evil.example"]\n'],
    ['userinfo on the mirror', '[host."https://user@mirror.site.example:5000"]\n'],
    ['trailing dot elsewhere', '[host."https://mirror.site.example.evil.example:5000"]\n'],
    ['capabilities without pull', '[host."https://mirror.site.example:5000"]\n  capabilities = ["resolve"]\n'],
    ['capabilities without resolve', '[host."https://mirror.site.example:5000"]\n  capabilities = ["pull"]\n'],
    ['capabilities push only', '[host."https://mirror.site.example:5000"]\n  capabilities = ["push"]\n'],
    ['a header inside a multi-line string', 'server = "https://registry.k8s.io"\nnote = """\n[host."https://mirror.site.example:5000"]\n"""\n'],
    ['not TOML at all', '[host."https://mirror.site.example:5000"]\n[host."https://mirror.site.example:5000"]\n'],
  ])('%s: not mirrored', (_what, text) => {
    expect(mirrorOf(text)).toBeUndefined();
  });

  it('a server inside another table is not containerd\'s server: the upstream stays the fallback', () => {
    expect(mirrorOf('[host."https://mirror.site.example:5000"]\n')).toMatchObject({ fallback: true });
    expect(mirrorOf('[other]\nserver = "https://mirror.site.example:5000"\n[host."https://mirror.site.example:5000"]\n')).toMatchObject({ fallback: true });
    expect(mirrorOf('[other]\nserver = "https://mirror.site.example:5000"\n')).toBeUndefined();
  });
});
