import { describe, expect, it } from 'vitest';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';

/**
 * recall10: a Dockerfile a Compose service builds pulls the `FROM` its build gives it: the
 * service's `build.args` (filled in from the project's `.env`; a name alone takes the project
 * environment's value) over the Dockerfile's ARG defaults (getsentry/self-hosted's clickhouse, cron
 * and sentry Dockerfiles: `ARG BASE_IMAGE` / `FROM ${BASE_IMAGE}`). Old code read the ARG defaults
 * alone: `python:3.12` from Docker Hub where the builds pull from registry.vendor.io, and an arg
 * with no default was a variable nobody fills in.
 */
const BUILD_FILES: Record<string, string> = {
  'app/compose.yaml': [
    'services:', // 1
    '  api:',
    '    build:',
    '      context: ./api',
    '      args:', // 5
    '        BASE_IMAGE: ${REGISTRY}/python:${PY_TAG:-3.12}',
    '  worker:',
    '    build:',
    '      context: ./api',
    '      dockerfile: Dockerfile', // 10
    '      args:',
    '        - BASE_IMAGE=registry.vendor.io/python:3.11',
    '  web:',
    '    build: ./web',
    '  base:', // 15
    '    image: app-base-local',
    '    pull_policy: build',
    '    build:',
    '      context: ./base',
    '      args: [TAG]', // 20
    '  cron:',
    '    build:',
    '      context: ./cron',
    '      args:',
    '        FROM_IMAGE: app-base-local', // 25
    '  unk:',
    '    build:',
    '      context: ./unk',
    '      args:',
    '        BASE_IMAGE: ${NOPE}/busybox:1', // 30
    '',
  ].join('\n'),
  'app/.env': 'REGISTRY=registry.vendor.io\nTAG=12-slim\n',
  'app/api/Dockerfile': 'ARG BASE_IMAGE=python:3.12\nFROM ${BASE_IMAGE}\nRUN true\n',
  'app/web/Dockerfile': 'ARG REG=mirror.vendor.io\nARG TAG=1\nFROM $REG/web:${TAG}\n',
  'app/base/Dockerfile': 'ARG TAG=11\nFROM debian:${TAG}\n',
  'app/cron/Dockerfile': 'ARG FROM_IMAGE\nFROM ${FROM_IMAGE}\n',
  'app/unk/Dockerfile': 'ARG BASE_IMAGE=busybox:1\nFROM ${BASE_IMAGE}\n',
  'lone/Dockerfile': 'ARG BASE_IMAGE=alpine:3.20\nFROM ${BASE_IMAGE}\n',
};

describe('recall10: the FROM of a Dockerfile a Compose service builds', () => {
  const repo = auditedRepo('ferry-recall10-build-', BUILD_FILES, MANIFEST, NESTED_SITE_TARGET);

  it("one finding per distinct build, each from its args filled in from the .env (no ARG default's image)", () => {
    const found = repo.at('repo/app/api/Dockerfile', 2);
    expect(found.map((f) => f.value).sort()).toEqual(['registry.vendor.io/python:3.11', 'registry.vendor.io/python:3.12']);
    for (const f of found) expect(f.host).toBe('registry.vendor.io');
    expect(found.find((f) => f.value.endsWith('3.12'))!.note).toContain('built by service api of repo/app/compose.yaml:4 with BASE_IMAGE=registry.vendor.io/python:3.12');
  });

  it("the ARG defaults where the build sets no args, and an arg named alone takes the .env's value", () => {
    expect(repo.one('repo/app/web/Dockerfile', 3)).toMatchObject({ value: 'mirror.vendor.io/web:1', host: 'mirror.vendor.io' });
    expect(repo.one('repo/app/web/Dockerfile', 3).note).toContain('built by service web of repo/app/compose.yaml:14');
    expect(repo.one('repo/app/base/Dockerfile', 2)).toMatchObject({ value: 'debian:12-slim', host: 'docker.io' });
  });

  it('an image another service builds and never pulls is built here, not pulled (its own image: too)', () => {
    const cron = repo.one('repo/app/cron/Dockerfile', 2);
    expect(cron).toMatchObject({ value: 'app-base-local', class: 'internal' });
    expect(cron.note).toContain('the image repo/app/compose.yaml:19 service base (build: ./base, pull_policy: build) builds');
    expect(repo.one('repo/app/compose.yaml', 16)).toMatchObject({ value: 'app-base-local', class: 'internal' });
  });

  it('an arg the scan cannot fill in: unknown, with the reason (never the ARG default)', () => {
    const f = repo.one('repo/app/unk/Dockerfile', 2);
    expect(f.host).toBe('unknown');
    expect(f.note).toContain('build arg BASE_IMAGE=${NOPE}/busybox:1: ${NOPE} set neither in the scan');
  });

  it('a Dockerfile no Compose file builds keeps its ARG defaults', () => {
    expect(repo.one('repo/lone/Dockerfile', 2)).toMatchObject({ value: 'alpine:3.20', host: 'docker.io' });
  });
});

/**
 * recall10: a `.env` value built from a variable only the shell gives (`REG=${HOST}`) is set, to a
 * value not known here: Compose's `${REG:-default}` takes it, not the default (and so does a later
 * `.env` line's). Old code took the default as what is pulled.
 */
const DOTENV_FILES: Record<string, string> = {
  'stack/compose.yaml': ['services:', '  app:', '    image: ${REG:-docker.io/vendor}/app:1', '  b:', '    image: $IMG', '  c:', '    image: ${OTHER:-docker.io/vendor}/c:1', ''].join('\n'),
  'stack/.env': 'REG=${HOST}\nIMG=${REG:-fallback.vendor.io}/x:1\n',
};

describe('recall10: a .env value built from a shell variable is set, its default unused', () => {
  const repo = auditedRepo('ferry-recall10-dotenv-', DOTENV_FILES, MANIFEST, NESTED_SITE_TARGET);

  it('the Compose default does not apply: unknown, with the reason', () => {
    const f = repo.one('repo/stack/compose.yaml', 3);
    expect(f.host).toBe('unknown');
    expect(f.note).toContain('REG in repo/stack/.env:1 is ${HOST}: ${HOST} is set neither above it');
    expect(f.note).toContain('REG is set all the same, so no default written with it applies');
  });

  it("nor a later .env line's default", () => {
    const f = repo.one('repo/stack/compose.yaml', 5);
    expect(f.host).toBe('unknown');
    expect(f.note).toContain('IMG in repo/stack/.env:2 is ${REG:-fallback.vendor.io}/x:1');
  });

  it('a name the .env does not set still takes the default', () => {
    expect(repo.one('repo/stack/compose.yaml', 7)).toMatchObject({ value: 'docker.io/vendor/c:1', host: 'docker.io' });
  });
});
