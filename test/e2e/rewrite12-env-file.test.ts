import { describe, expect, it } from 'vitest';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

/**
 * rewrite12: a file a Compose service names in `env_file:` is an env file whatever its name
 * (compose-spec "env_file": a string, a list, or `{path, required, format}` entries; compose-go
 * reads each with its dotenv parser). `ferry audit` read `config/app.conf` as plain text, where
 * `LICENSE_SERVER=lic.vendor.example` is no URL and no host the patterns know: the destination went
 * unreported. Now it is found by its key, at its line, saying which Compose file names it; a file
 * no Compose file names keeps its reading as text.
 */
const FILES: Record<string, string> = {
  'stack/compose.yaml': [
    'services:', // 1
    '  app:',
    '    image: registry.site.internal/ferry/app:1',
    '    env_file: config/app.conf',
    '  worker:', // 5
    '    image: registry.site.internal/ferry/worker:1',
    '    env_file:',
    '      - path: ./config/worker.settings',
    '        required: false',
    '      - ../../outside.conf', // 10
    '',
  ].join('\n'),
  'stack/config/app.conf': ['# licensing', 'LICENSE_SERVER=lic.vendor.example', 'LOG_LEVEL=info', ''].join('\n'),
  'stack/config/worker.settings': ['QUEUE=jobs', 'export TELEMETRY_ENDPOINT="collector.vendor.example:4317" # traces', ''].join('\n'),
  // The same line in a file no Compose file names: read as text, as before.
  'stack/config/unused.conf': 'LICENSE_SERVER=lic.other.example\n',
};

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';

const repo = auditedRepo('ferry-rewrite12-', FILES, MANIFEST, NESTED_SITE_TARGET);

describe('rewrite12: audit reads the files a Compose env_file names as env files', () => {
  it('config/app.conf (env_file: a string) gives LICENSE_SERVER=lic.vendor.example by its key, at its line', () => {
    const f = repo.one('repo/stack/config/app.conf', 2);
    expect(f).toEqual(expect.objectContaining({ kind: 'host', value: 'lic.vendor.example', host: 'lic.vendor.example' }));
    expect(f.provenance).toContain('repo/stack/compose.yaml:4 names it in env_file');
  });

  it('an env_file list entry {path: …} with export and a quoted value', () => {
    const f = repo.one('repo/stack/config/worker.settings', 2);
    expect(f).toEqual(expect.objectContaining({ kind: 'host', host: 'collector.vendor.example' }));
    expect(f.provenance).toContain('repo/stack/compose.yaml:8 names it in env_file');
  });

  it('a file no Compose file names is not read as an env file', () => {
    expect(repo.at('repo/stack/config/unused.conf', 1)).toEqual([]);
  });
});
