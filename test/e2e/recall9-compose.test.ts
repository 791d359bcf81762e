import { describe, expect, it } from 'vitest';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';

/**
 * recall9: a Compose `env_file:` name with a variable (`config/${STAGE}.conf`) is filled in from the
 * project environment (the `.env`, or the env files a command line gives), as Compose interpolates
 * the whole file; never from the service's own `environment:`. Old code left such a name out: the
 * file it names was not read as an env file, and nothing said which file was unknown.
 */
const ENV_FILES: Record<string, string> = {
  'app/compose.yaml': [
    'services:', // 1
    '  api:',
    '    image: nginx:1',
    '    env_file: config/${STAGE}.conf',
    '  web:', // 5
    '    image: nginx:1',
    '    env_file:',
    '      - path: config/${WEB_STAGE}.conf',
    '    environment:',
    '      WEB_STAGE: prod', // 10
    '',
  ].join('\n'),
  'app/.env': 'STAGE=prod\nAPI_HOST=api.vendor.io\n',
  'app/config/prod.conf': 'LICENSE_SERVER=lic.vendor.example\nAPI_URL=https://${API_HOST}/v1\n',
};

describe('recall9: env_file names with a variable', () => {
  const repo = auditedRepo('ferry-recall9-envfile-', ENV_FILES, MANIFEST, NESTED_SITE_TARGET);

  it('filled in from the .env: the file it names is read as an env file, its values interpolated', () => {
    const lic = repo.one('repo/app/config/prod.conf', 1);
    expect(lic).toMatchObject({ host: 'lic.vendor.example' });
    expect(lic.note).toContain('names it in env_file as config/${STAGE}.conf, filled in from repo/app/.env');
    expect(repo.one('repo/app/config/prod.conf', 2)).toMatchObject({ value: 'https://api.vendor.io/v1', host: 'api.vendor.io' });
  });

  it("a variable set only in the service's environment: unknown, with that reason", () => {
    const f = repo.one('repo/app/compose.yaml', 8);
    expect(f.host).toBe('unknown');
    expect(f.note).toContain("${WEB_STAGE} set only in the service's environment:");
  });
});
