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

/**
 * recall9: the shell a script runs `docker compose` in wins over the `.env` (Compose's precedence):
 * what the script exports above the command (`export VAR=…`) or sets in front of it
 * (`VAR=… docker compose …`) fills the Compose file in; a value of the shell (`"app:${1}"`) or one
 * set differently in the script's branches is unknown, its default unused (netbox-docker's test.sh).
 */
const SHELL_FILES: Record<string, string> = {
  'stack/compose.yaml': 'services:\n  app:\n    image: ${REGISTRY}/app:1\n',
  'stack/.env': 'REGISTRY=dotenv.vendor.io\n',
  'stack/scripts/up.sh': '#!/bin/sh\nset -e\nexport REGISTRY="shell.vendor.io" OTHER=1\ndocker compose up -d\n',
  'prefix/compose.yaml': 'services:\n  app:\n    image: ${REGISTRY:-default.vendor.io}/app:1\n',
  'prefix/run.sh': "#!/bin/sh\nREGISTRY='prefix.vendor.io' docker compose -f compose.yaml up\n",
  'branches/docker-compose.test.yml': 'services:\n  app:\n    image: ${IMAGE-docker.io/vendor/app:latest}\n',
  'branches/test.sh': [
    '#!/bin/bash',
    'if [ "${1}x" != "x" ]; then',
    '  export IMAGE="vendor/app:${1}"',
    'else',
    "  export IMAGE='vendor/app:latest'",
    'fi',
    'doco="docker compose --file docker-compose.test.yml"',
    '$doco up',
    '',
  ].join('\n'),
};

describe('recall9: the shell environment a script exports before docker compose', () => {
  const repo = auditedRepo('ferry-recall9-shell-', SHELL_FILES, MANIFEST, NESTED_SITE_TARGET);

  it('export VAR=… above the command wins over the .env', () => {
    // Old code: dotenv.vendor.io/app:1.
    const f = repo.one('repo/stack/compose.yaml', 3);
    expect(f).toMatchObject({ value: 'shell.vendor.io/app:1', host: 'shell.vendor.io' });
    expect(f.note).toContain('exported by the shell repo/stack/scripts/up.sh:4 runs it in');
  });

  it('VAR=… in front of the command wins over the default written', () => {
    // Old code: default.vendor.io/app:1.
    expect(repo.one('repo/prefix/compose.yaml', 3)).toMatchObject({ value: 'prefix.vendor.io/app:1', host: 'prefix.vendor.io' });
  });

  it("exported differently in the script's branches, one of them the shell's: unknown, the default unused", () => {
    // Old code: docker.io/vendor/app:latest, the default.
    const f = repo.one('repo/branches/docker-compose.test.yml', 3);
    expect(f.host).toBe('unknown');
    expect(f.note).toContain('IMAGE is exported with 2 values above it (lines 3, 5)');
  });
});

describe('recall9: exported variables read under bounds', () => {
  it('a script exporting thousands of variables: at most 256 followed', async () => {
    const { composeCliIn } = await import('../../src/audit/runtime-vars.js');
    const text = `${Array.from({ length: 5000 }, (_, i) => `export V${i}=x${i}`).join('\n')}\nA=1 docker compose up\n`;
    const [cmd] = composeCliIn(text);
    expect(cmd.shellEnv).toHaveLength(257);
    expect(cmd.shellEnv[256]).toMatchObject({ name: 'A', value: '1' });
  });
});

/**
 * recall9: netbox-docker's `image: docker.io/netboxcommunity/netbox:${VERSION-…}` gave a bare
 * `docker.io` host beside the interpolated image (the string was read as written too); nginx Unit's
 * `"proxy": "http://unix:/opt/unit/unit.sock"` and nginx's `proxy_pass http://unix:/tmp/app.sock:/`
 * are local sockets, reported as a host named `unix`.
 */
const CLASS_FILES: Record<string, string> = {
  'compose.yaml': 'services:\n  netbox:\n    image: docker.io/vendor/netbox:${VERSION-v4.1}\n  other:\n    image: quay.io/vendor/x:${TAG:-1}\n',
  'docker/nginx-unit.json': '{\n  "routes": [\n    { "action": { "proxy": "http://unix:/opt/unit/unit.sock" } }\n  ]\n}\n',
  'nginx/site.conf': 'location / {\n  proxy_pass http://unix:/tmp/backend.socket:/uri/;\n}\nupstream named { server http://unix:8080; }\n',
};

describe('recall9: an interpolated image is its string\'s one finding; a Unix socket URL names no host', () => {
  const repo = auditedRepo('ferry-recall9-class-', CLASS_FILES, MANIFEST, NESTED_SITE_TARGET);

  it('the image filled in, no bare registry host beside it', () => {
    expect(repo.one('repo/compose.yaml', 3)).toMatchObject({ kind: 'image', value: 'docker.io/vendor/netbox:v4.1', host: 'docker.io' });
    expect(repo.one('repo/compose.yaml', 5)).toMatchObject({ kind: 'image', value: 'quay.io/vendor/x:1', host: 'quay.io' });
  });

  it('http://unix:/path is a local socket, no finding; http://unix:8080 is a host named unix', () => {
    expect(repo.at('repo/docker/nginx-unit.json', 3)).toEqual([]);
    expect(repo.at('repo/nginx/site.conf', 2)).toEqual([]);
    expect(repo.one('repo/nginx/site.conf', 4)).toMatchObject({ host: 'unix' });
  });
});
