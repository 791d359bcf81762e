import { describe, expect, it } from 'vitest';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

/**
 * recall8: which `.env` a Compose file is interpolated with is decided by the command line that
 * runs it (docker compose: `--env-file` replaces the project directory's `.env` and is relative to
 * where the command runs; the project directory is `--project-directory`, else the first `-f`
 * file's directory).
 */
const FILES: Record<string, string> = {
  // --env-file replaces the .env beside the Compose file.
  'deploy/compose.yaml': 'services:\n  app:\n    image: ${REGISTRY}/app:1\n',
  'deploy/.env': 'REGISTRY=beside.vendor.io\n',
  'env/prod.env': 'REGISTRY=prod.vendor.io\n',
  'scripts/up.sh': '#!/bin/sh\nset -e\ndocker compose -f deploy/compose.yaml --env-file env/prod.env up -d\n',
  // --project-directory: its .env, not the one beside the file.
  'stack/compose.yaml': 'services:\n  b:\n    image: ${REG}/b:1\n    environment:\n      - API_URL=https://${API_HOST}/v1\n',
  'stack/.env': 'REG=beside.vendor.io\nAPI_HOST=beside-api.vendor.io\n',
  'ops/.env': 'REG=ops.vendor.io\nAPI_HOST=ops-api.vendor.io\n',
  'Makefile': 'up:\n\tdocker compose --project-directory ops -f stack/compose.yaml up -d\n',
  // An env file a shell variable names: every variable is unknown, the default too.
  'multi/compose.yaml': 'services:\n  c:\n    image: ${REG:-fallback.vendor.io}/c:1\n',
  'bin/run.sh': '#!/bin/sh\ndocker-compose -f multi/compose.yaml --env-file "$ENV_FILE" up\n',
  // Several env files, in order: a later one filled in from an earlier one; in a workflow, run from the repository.
  'ci/compose.yaml': 'services:\n  d:\n    image: ${REG}/d:1\n',
  'ci/a.env': 'HOST=a.vendor.io\nREG=first.vendor.io\n',
  'ci/b.env': 'REG=${HOST}:5000\n',
  '.github/workflows/ci.yml': 'on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n      - run: docker compose -f ci/compose.yaml --env-file ci/a.env --env-file ci/b.env config\n',
  // An --env-file the scan does not hold.
  'gone/compose.yaml': 'services:\n  e:\n    image: ${REG:-fallback.vendor.io}/e:1\n',
  'gone/up.sh': '#!/bin/sh\ncd "$(dirname "$0")"\ndocker compose --env-file missing.env up\n',
};

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';
const repo = auditedRepo('ferry-recall8-', FILES, MANIFEST, NESTED_SITE_TARGET);

describe('recall8: docker compose --env-file / --project-directory decide the .env', () => {
  it('--env-file replaces the .env beside the Compose file (relative to where the command runs)', () => {
    // Old code: beside.vendor.io/app:1 from deploy/.env.
    const f = repo.one('repo/deploy/compose.yaml', 3);
    expect(f).toMatchObject({ kind: 'image', value: 'prod.vendor.io/app:1', host: 'prod.vendor.io' });
    expect(f.note).toContain('repo/env/prod.env, as repo/scripts/up.sh:3 runs it (--env-file)');
  });

  it("--project-directory: that directory's .env fills the image and the environment", () => {
    expect(repo.one('repo/stack/compose.yaml', 3)).toMatchObject({ kind: 'image', value: 'ops.vendor.io/b:1', host: 'ops.vendor.io' });
    const api = repo.one('repo/stack/compose.yaml', 5);
    expect(api).toMatchObject({ kind: 'url', value: 'https://ops-api.vendor.io/v1', host: 'ops-api.vendor.io' });
    expect(api.note).toContain('repo/ops/.env');
    expect(repo.findings.some((x) => x.file.endsWith('compose.yaml') && x.host.startsWith('beside'))).toBe(false);
  });

  it('an --env-file a shell variable names: unknown, never the default written', () => {
    // Old code: fallback.vendor.io/c:1.
    const f = repo.one('repo/multi/compose.yaml', 3);
    expect(f.host).toBe('unknown');
    expect(f.note).toContain('repo/bin/run.sh:2 runs it with --env-file $ENV_FILE');
  });

  it('several --env-files in order, a later one filled in from an earlier one (a workflow runs from the repository)', () => {
    const f = repo.one('repo/ci/compose.yaml', 3);
    expect(f).toMatchObject({ kind: 'image', value: 'a.vendor.io:5000/d:1', host: 'a.vendor.io' });
  });

  it('an --env-file the scan does not hold: unknown, the file named', () => {
    const f = repo.one('repo/gone/compose.yaml', 3);
    expect(f.host).toBe('unknown');
    expect(f.note).toContain('repo/gone/missing.env, which the scan does not hold');
  });
});

describe('recall8: compose command lines read under bounds', () => {
  it('a file of thousands of docker compose command lines: at most 64 read, each with at most 32 files', async () => {
    const { composeCliIn } = await import('../../src/audit/runtime-vars.js');
    const many = `${'docker compose -f a.yaml --env-file b.env up\n'.repeat(5000)}docker compose ${'-f x.yaml '.repeat(1000)}up\n`;
    const cmds = composeCliIn(many);
    expect(cmds.length).toBe(64);
    const wide = composeCliIn(`docker compose ${'-f x.yaml '.repeat(1000)}up\n`);
    expect(wide[0].files.length).toBe(32);
  });
});

describe('recall8: the ways one Compose file is run are bounded', () => {
  // 40 scripts, each running one Compose file with its own env file: each way was one more finding
  // for every value of the file (and one more interpolation of each line), without a bound.
  const files: Record<string, string> = { 'app/compose.yaml': 'services:\n  a:\n    image: ${REG}/a:1\n' };
  for (let i = 0; i < 40; i++) {
    files[`env/e${i}.env`] = `REG=r${i}.vendor.io\n`;
    files[`bin/up${i}.sh`] = `#!/bin/sh\ndocker compose -f app/compose.yaml --env-file env/e${i}.env up\n`;
  }
  const many = auditedRepo('ferry-recall8-ways-', files, MANIFEST, NESTED_SITE_TARGET);

  it('at most 16 ways are read, and one more finding says the rest are not (unknown)', () => {
    const found = many.findings.filter((f) => f.file === 'repo/app/compose.yaml' && f.line === 3);
    expect(found.filter((f) => f.host !== 'unknown')).toHaveLength(16);
    const rest = found.filter((f) => f.host === 'unknown');
    expect(rest).toHaveLength(1);
    expect(rest[0].note).toContain('more than 16 command lines of the scan run repo/app/compose.yaml');
  });
});
