import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/audit/audit.js';
import { runFerry } from '../support/cli.js';
import { writeTree } from '../support/fs-tree.js';
import { offlineWork } from '../support/offline-lock.js';

/**
 * recall13: a GitLab runner's config.toml (docs.gitlab.com/runner/configuration/advanced-configuration,
 * `[runners.docker]`): `image`, `helper_image`, `services` as strings and inline tables, and
 * `[[runners.docker.services]]` tables. Audit reports each; rewrite manifests replaces each carried
 * one inside its TOML string, every other byte kept, and names the rest.
 */
const MIRROR = 'registry.site.internal/ferry';
const HELPER = 'registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:x86_64-v17.11.0';
const LOCKED = ['docker.io/library/alpine:3.20', HELPER, 'docker.io/library/postgres:16', 'docker.io/library/docker:27-dind'];

const CONFIG = [
  'concurrent = 4', // 1
  'check_interval = 0',
  '',
  '[[runners]]',
  '  name = "docker-runner"', // 5
  '  url = "https://gitlab.example.com"',
  '  executor = "docker"',
  '  [runners.docker]',
  '    tls_verify = false',
  '    image = "alpine:3.20"', // 10
  `    helper_image = "${HELPER}"`,
  '    privileged = true',
  '    volumes = ["/cache"]',
  '    services = ["postgres:16", { name = "redis:7.2", alias = "cache" }]',
  '    allowed_images = ["ruby:*", "python:*"]', // 15
  '',
  '[[runners]]',
  '  name = "dind-runner"',
  '  executor = "docker"',
  '  [runners.docker]', // 20
  '    [[runners.docker.services]]',
  '      name = "docker:27-dind"',
  '      alias = "docker"',
  '    [[runners.docker.services]]',
  "      name = 'mysql:8.4'", // 25
  '',
].join('\n');

let work = '';
beforeAll(async () => {
  work = await offlineWork('ferry-recall13-runner-', LOCKED);
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('recall13: GitLab runner config.toml images', () => {
  it('audit: image, helper_image and every service (strings, inline tables, [[runners.docker.services]]) at its line', async () => {
    await writeTree(path.join(work, 'audit'), { 'config.toml': CONFIG });
    const r = await runFerry(['audit', 'audit', '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const f = (JSON.parse(r.stdout) as AuditReport).findings.filter((x) => x.kind === 'image');
    expect(f.map((x) => `${x.line} ${x.value} ${x.class}`).sort()).toEqual(
      ['10 alpine:3.20 mirrored', `11 ${HELPER} mirrored`, '14 postgres:16 mirrored', '14 redis:7.2 undeclared', '22 docker:27-dind mirrored', '25 mysql:8.4 undeclared'].sort(),
    );
  }, 60_000);

  it('rewrite manifests: each carried image replaced inside its string, the file otherwise byte for byte; the rest named', async () => {
    await writeTree(path.join(work, 'rw'), { 'config.toml': CONFIG });
    const r = await runFerry(['rewrite', 'manifests', 'rw', '-t', 't.yaml', '--lock', 'm.lock.json', '--allow-unmapped', '--json'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const rewritten = await readFile(path.join(work, 'rw/config.toml'), 'utf8');
    expect(rewritten).toBe(
      CONFIG.replace('"alpine:3.20"', `"${MIRROR}/docker.io/library/alpine:3.20"`)
        .replace(`"${HELPER}"`, `"${MIRROR}/${HELPER}"`)
        .replace('"postgres:16"', `"${MIRROR}/docker.io/library/postgres:16"`)
        .replace('"docker:27-dind"', `"${MIRROR}/docker.io/library/docker:27-dind"`),
    );
    // Read back as the runner reads it (a TOML parser): the same structure, the images on the mirror.
    type Runner = { docker: { image?: string; helper_image?: string; services: Array<string | { name: string; alias?: string }> } };
    const parsed = parseToml(rewritten) as unknown as { concurrent: number; runners: Runner[] };
    expect(parsed.concurrent).toBe(4);
    expect(parsed.runners[0].docker.image).toBe(`${MIRROR}/docker.io/library/alpine:3.20`);
    expect(parsed.runners[0].docker.helper_image).toBe(`${MIRROR}/${HELPER}`);
    expect(parsed.runners[0].docker.services).toEqual([`${MIRROR}/docker.io/library/postgres:16`, { name: 'redis:7.2', alias: 'cache' }]);
    expect(parsed.runners[1].docker.services).toEqual([{ name: `${MIRROR}/docker.io/library/docker:27-dind`, alias: 'docker' }, { name: 'mysql:8.4' }]);
    const out = JSON.parse(r.stdout) as { unmapped: Array<{ line: number; ref: string; where: string }> };
    expect(out.unmapped.map((u) => `${u.line} ${u.ref} ${u.where}`).sort()).toEqual(['14 redis:7.2 GitLab runner runners.docker.services', '25 mysql:8.4 GitLab runner runners.docker.services.name']);
  }, 60_000);
});
