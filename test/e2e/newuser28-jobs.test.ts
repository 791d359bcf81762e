import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { imagesLock, imagesManifest, NESTED_SITE_TARGET } from '../support/offline-lock.js';

/**
 * The site's own CI/CD, air-gapped (new-user round 28): a GitLab instance with Docker-executor
 * runners, plus GitHub Actions workflows run by a self-hosted runner (Tekton Tasks and Argo
 * WorkflowTemplates were checked too: their `steps[].image`, `sidecars`, `stepTemplate.image`,
 * `container.image`, `script.image`, `containerSet` were already found and rewritten). The
 * engineer knew GitLab's offline docs and Zarf, listed the pipelines' images in a manifest, locked
 * them, then ran `ferry rewrite manifests` over the CI repositories and `ferry audit` over them.
 *
 * What tripped:
 * - `rewrite manifests <repo>` skipped every dot entry: `.gitlab-ci.yml` and `.github/workflows/`
 *   were never read, and it said "changed 0 files" for them, exit 0. It now reads the tree as
 *   `audit` does (only `.git`, `node_modules`, `.hg`, `.svn` skipped).
 * - Neither command knew where CI files name images: GitLab's `services: [docker:27-dind, {name:
 *   postgres:16, alias: db}]` and `image: {name: python:3.12, entrypoint: [""]}`, GitHub's
 *   `container: python:3.12` and `uses: docker://alpine:3.20` were no findings in `audit` (a false
 *   clean) and were left upstream by `rewrite`. The rule is in src/kinds/image/image-key.ts
 *   (ciFileKind, ciImagePath, ciStepUses), shared by both. A rewritten bare-string service becomes
 *   `{name: <mirror>, alias: docker}`: GitLab names a service's host after its image, and the
 *   job's `DOCKER_HOST: tcp://docker:2376` would no longer resolve.
 * - `image: ${BUILD_IMAGE}` was silently skipped by both: audit now reads it as GitLab expands it
 *   (the file's `variables:`, the job's first), rewrite moves the variable's value and keeps the
 *   `$VAR` form; `$CI_REGISTRY/app:$CI_COMMIT_SHA` is reported with a note naming GitLab's
 *   predefined variables, and rewrite says it left it.
 * - `uses: actions/checkout@v4` (downloaded from github.com at run time) was no finding: audit now
 *   reports https://github.com/actions/checkout as going out, rewrite warns. A GitLab `include:
 *   remote:` was already a finding in audit; rewrite now warns about it too.
 *
 * Not fixed here: a runner's `config.toml` is read by audit (`[runners.docker] image`,
 * `helper_image`) but `rewrite manifests` reads only YAML, so it is not rewritten (the README says
 * to set it by hand); `allowed_images` patterns are no pulls and are not reported.
 */

let work: string;
const IMAGES = [
  'docker.io/library/node:20',
  'docker.io/library/docker:27-dind',
  'docker.io/library/postgres:16',
  'docker.io/library/alpine:3.20',
  'docker.io/library/python:3.12',
  'registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:x86_64-v17.5.0',
  'docker.io/library/golang:1.23',
  'gcr.io/kaniko-project/executor:v1.23.0',
  'docker.io/library/redis:7',
  'docker.io/library/ruby:3.3',
];
const MANIFEST = imagesManifest('ci', IMAGES);
const TARGET = NESTED_SITE_TARGET;
const GITLAB = `include:
  - remote: 'https://gitlab.com/gitlab-org/gitlab/-/raw/master/lib/gitlab/ci/templates/Jobs/SAST.gitlab-ci.yml'
  - project: 'platform/ci-templates'
    ref: main
    file: '/templates/build.yml'
  - template: Security/Dependency-Scanning.gitlab-ci.yml

variables:
  BUILD_IMAGE: golang:1.23
  DOCKER_HOST: tcp://docker:2376

default:
  image: ruby:3.3

stages: [build, test, deploy]

build:
  stage: build
  image: \${BUILD_IMAGE}
  script: [go build ./...]

test:
  stage: test
  image: node:20
  services:
    - docker:27-dind
    - name: postgres:16
      alias: db
  script: [npm test]

lint:
  image:
    name: python:3.12
    entrypoint: [""]
  script: [ruff .]

release:
  stage: deploy
  image:
    name: gcr.io/kaniko-project/executor:v1.23.0
    entrypoint: [""]
  script:
    - /kaniko/executor --destination $CI_REGISTRY/app:$CI_COMMIT_SHA

deploy:
  image: $CI_REGISTRY/app:$CI_COMMIT_SHA
  script: [deploy]
`;
const GITHUB = `name: ci
on: [push]
jobs:
  test:
    runs-on: self-hosted
    container:
      image: node:20
    services:
      db:
        image: postgres:16
      cache:
        image: redis:7
    steps:
      - uses: actions/checkout@v4
      - uses: docker://alpine:3.20
        with: { args: echo hi }
      - uses: ./.github/actions/local
      - run: npm test
  build:
    runs-on: self-hosted
    container: python:3.12
    steps:
      - uses: actions/setup-node@v4
`;
const RUNNER = `concurrent = 4

[[runners]]
  name = "docker-runner"
  url = "https://gitlab.site.internal/"
  executor = "docker"
  [runners.docker]
    image = "alpine:3.20"
    helper_image = "registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:x86_64-v17.5.0"
    privileged = true
    pull_policy = ["always"]
    allowed_images = ["node:*", "ruby:*", "python:3.12"]
    allowed_services = ["docker:*-dind", "postgres:*"]
`;

const lock = (refs: string[]): string => imagesLock('ci', refs);

interface Finding {
  file: string;
  keyPath: string;
  kind: string;
  value: string;
  class: string;
  note?: string;
}

const M = 'registry.site.internal/ferry';

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-newuser28-'));
  await writeFile(path.join(work, 'm.yaml'), MANIFEST);
  await writeFile(path.join(work, 't.yaml'), TARGET);
  await writeFile(path.join(work, 'm.lock.json'), lock(IMAGES));
  await mkdir(path.join(work, 'repo', '.github', 'workflows'), { recursive: true });
  await mkdir(path.join(work, 'repo', 'runner'));
  await writeFile(path.join(work, 'repo', '.gitlab-ci.yml'), GITLAB);
  await writeFile(path.join(work, 'repo', '.github', 'workflows', 'ci.yml'), GITHUB);
  await writeFile(path.join(work, 'repo', 'runner', 'config.toml'), RUNNER);
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the site\'s own CI/CD', () => {
  it('audit finds every image the pipelines pull and what the runners fetch from outside', async () => {
    const r = await runFerry(['audit', 'repo', '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const findings = (JSON.parse(r.stdout) as { findings: Finding[] }).findings;
    const at = (keyPath: string) => findings.find((f) => f.keyPath === keyPath && f.file.endsWith('.gitlab-ci.yml'));
    const gh = (keyPath: string) => findings.find((f) => f.keyPath === keyPath && f.file.endsWith('ci.yml') && f.file.includes('.github'));
    expect(at('test.services[0]')).toMatchObject({ kind: 'image', value: 'docker:27-dind', class: 'mirrored' });
    expect(at('test.services[1].name')).toMatchObject({ kind: 'image', value: 'postgres:16', class: 'mirrored' });
    expect(at('lint.image.name')).toMatchObject({ kind: 'image', value: 'python:3.12', class: 'mirrored' });
    expect(at('build.image')).toMatchObject({ kind: 'image', value: 'golang:1.23', class: 'mirrored' });
    expect(at('deploy.image')?.note).toContain('$CI_REGISTRY');
    expect(at('include[0].remote')).toMatchObject({ kind: 'url', class: 'undeclared' });
    expect(gh('jobs.build.container')).toMatchObject({ kind: 'image', value: 'python:3.12', class: 'mirrored' });
    expect(gh('jobs.test.steps[1].uses')).toMatchObject({ kind: 'image', value: 'alpine:3.20', class: 'mirrored' });
    expect(gh('jobs.test.steps[0].uses')).toMatchObject({ kind: 'url', value: 'https://github.com/actions/checkout', class: 'undeclared' });
    expect(gh('jobs.test.steps[0].uses')?.note).toContain('github.com');
    expect(findings.some((f) => f.keyPath === 'jobs.test.steps[2].uses')).toBe(false);
    const runner = findings.filter((f) => f.file.endsWith('config.toml') && f.kind === 'image').map((f) => f.keyPath);
    expect(runner).toEqual(['runners.docker.image', 'runners.docker.helper_image']);
  });

  it('rewrite manifests reads .gitlab-ci.yml and .github/, moves the job images and names what it leaves', async () => {
    const dir = path.join(work, 'rw');
    await cp(path.join(work, 'repo'), dir, { recursive: true });
    const r = await runFerry(['rewrite', 'manifests', dir, '-t', 't.yaml', '--lock', 'm.lock.json'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const gl = await readFile(path.join(dir, '.gitlab-ci.yml'), 'utf8');
    expect(gl).toContain(`  BUILD_IMAGE: ${M}/docker.io/library/golang:1.23\n`);
    expect(gl).toContain('  image: ${BUILD_IMAGE}\n');
    expect(gl).toContain(`  image: ${M}/docker.io/library/ruby:3.3\n`);
    expect(gl).toContain(`    - { name: ${M}/docker.io/library/docker:27-dind, alias: docker }\n`);
    expect(gl).toContain(`    - name: ${M}/docker.io/library/postgres:16\n      alias: db\n`);
    expect(gl).toContain(`    name: ${M}/docker.io/library/python:3.12\n`);
    expect(gl).toContain(`    name: ${M}/gcr.io/kaniko-project/executor:v1.23.0\n`);
    expect(gl).toContain('  image: $CI_REGISTRY/app:$CI_COMMIT_SHA\n');
    const gh = await readFile(path.join(dir, '.github', 'workflows', 'ci.yml'), 'utf8');
    expect(gh).toContain(`    container: ${M}/docker.io/library/python:3.12\n`);
    expect(gh).toContain(`      image: ${M}/docker.io/library/node:20\n`);
    expect(gh).toContain(`      - uses: docker://${M}/docker.io/library/alpine:3.20\n`);
    expect(gh).toContain('      - uses: actions/checkout@v4\n');
    expect(r.stderr).toContain('actions/checkout@v4 is downloaded from github.com');
    expect(r.stderr).toContain('include[0].remote');
    expect(r.stderr).toMatch(/deploy\.image is \$CI_REGISTRY\/app:\$CI_COMMIT_SHA: left as written/);
  });

  it('rewrite manifests refuses a CI image the lock lacks, naming the file and the job', async () => {
    const dir = path.join(work, 'rw2');
    await mkdir(dir);
    await writeFile(path.join(dir, '.gitlab-ci.yml'), 'test:\n  image: node:20\n  services:\n    - mysql:8\n  script: [npm test]\n');
    const r = await runFerry(['rewrite', 'manifests', dir, '-t', 't.yaml', '--lock', 'm.lock.json'], { cwd: work });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('mysql:8');
    expect(r.stderr).toContain('test.services[0]');
  });
});
