import { describe, expect, it } from 'vitest';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';

/**
 * recall18: Caddy's `import` as caddyserver.com documents it (directives/import, concepts#snippets):
 * a snippet `(name) { … }` pasted with arguments (`{args[0]}`), snippets from a file imported by a
 * glob relative to the Caddyfile, an argument that is an environment variable with a default, and
 * one without (unknown).
 */
const FILES: Record<string, string> = {
  'caddy/Caddyfile': [
    '(proxy) {', // 1
    '\treverse_proxy {args[0]} {',
    '\t\theader_up Host {upstream_hostport}',
    '\t}',
    '}', // 5
    'import snippets/*.caddy',
    'app.example.com {',
    '\timport proxy https://api.vendor.example',
    '}',
    'b.example.com {', // 10
    '\timport proxy {$BACKEND:backend.vendor.example:8443}',
    '}',
    'c.example.com {',
    '\timport assets static',
    '}', // 15
    'd.example.com {',
    '\timport proxy {$ORIGIN}',
    '}',
    '',
  ].join('\n'),
  'caddy/snippets/assets.caddy': [
    '(assets) {', // 1
    '\treverse_proxy https://{args[0]}.cdn.vendor.example {',
    '\t\theader_up Host {upstream_hostport}',
    '\t}',
    '}', // 5
    '',
  ].join('\n'),
};

describe('recall18: Caddy import pastes snippets and files with their arguments', () => {
  const repo = auditedRepo('ferry-recall18-caddy-', FILES, MANIFEST, NESTED_SITE_TARGET);
  const f = 'repo/caddy/Caddyfile';

  it('a snippet of the same file, its {args[0]} filled in at the import line, said so', () => {
    const x = repo.one(f, 8);
    expect(x.value).toBe('https://api.vendor.example');
    expect(x.note).toContain('snippet (proxy)');
  });

  it("an argument {$VAR:default} is the default, the environment may name another", () => {
    const x = repo.one(f, 11);
    expect(x.value).toBe('backend.vendor.example:8443');
    expect(x.note).toContain('its default');
    expect(x.note).toContain('snippet (proxy)');
  });

  it('a snippet of a file imported by a glob: its host joined from the argument', () => {
    expect(repo.one(f, 14)).toMatchObject({ value: 'https://static.cdn.vendor.example', host: 'static.cdn.vendor.example' });
  });

  it('an argument {$VAR} without a default: the destination unknown', () => {
    const x = repo.one(f, 17);
    expect(x.value).toBe('{$ORIGIN}');
    expect(x.note).toContain('proxies requests to the destination this variable holds');
  });
});
