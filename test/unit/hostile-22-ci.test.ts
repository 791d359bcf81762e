import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanFileText } from '../../src/audit/scan.js';
import { gitlabJobVariables } from '../../src/kinds/image/image-key.js';
import { LockSchema } from '../../src/kinds/schema.js';
import { MirrorTargetSchema } from '../../src/manifest/target.js';
import { createRewriteContext } from '../../src/rewrite/context.js';
import { rewriteManifests } from '../../src/rewrite/manifests.js';
import { parse as parseYaml } from 'yaml';
import { imagesLock, NESTED_SITE_TARGET } from '../support/offline-lock.js';

/**
 * Hostile pass 21 (CI pipeline files): a GitLab CI file with a `variables:` of tens of thousands
 * and thousands of `services:` naming `$V…/img` made audit and `rewrite manifests` rebuild the
 * whole variable table for every image scalar (40 000 × 4 000: minutes). The table is built once
 * per file and job.
 */
const ctx = () => createRewriteContext(MirrorTargetSchema.parse(parseYaml(NESTED_SITE_TARGET)), LockSchema.parse(JSON.parse(imagesLock('k', ['docker.io/library/nginx:1.25']))));

const VARS = 40_000;
const SERVICES = 4_000;
const pipeline = () => {
  const vars = Array.from({ length: VARS }, (_, i) => `  V${i}: reg${i}.example`).join('\n');
  const services = Array.from({ length: SERVICES }, (_, i) => `    - $V${i}/img:1`).join('\n');
  return `variables:\n${vars}\nbuild:\n  script: [x]\n  variables:\n    OWN: mine.example\n  image: $OWN/tool:2\n  services:\n${services}\n`;
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile-22-ci-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('GitLab CI variables: built once per file and job', () => {
  it('audit reads 4 000 services over 40 000 variables, each filled in', () => {
    const refs: Array<{ value: string; keyPath: string }> = [];
    scanFileText('.gitlab-ci.yml', 'yaml', pipeline(), refs as never, []);
    const images = refs.filter((r) => /^build\.(services|image)/.test(r.keyPath));
    expect(images.length).toBe(SERVICES + 1);
    expect(images.find((r) => r.keyPath === 'build.services[3999]')?.value).toBe('reg3999.example/img:1');
    expect(images.find((r) => r.keyPath === 'build.image')?.value).toBe('mine.example/tool:2');
  });

  it('rewrite manifests warns for each of them and leaves the file as written', async () => {
    const file = path.join(dir, '.gitlab-ci.yml');
    await writeFile(file, pipeline());
    const r = await rewriteManifests([file], ctx(), {});
    expect(r.warnings.filter((w) => w.includes('pulled as reg')).length).toBe(SERVICES);
  });

  it('the job table is the file table with the job over it, one Map per file and job', () => {
    const root = { variables: { A: 'a', B: { value: 'b' } }, job: { variables: { B: 'own' } }, __proto__x: {} } as Record<string, unknown>;
    const v = gitlabJobVariables(root, 'job');
    expect([...v]).toEqual([['A', 'a'], ['B', 'own']]);
    expect(gitlabJobVariables(root, 'job')).toBe(v);
    expect([...gitlabJobVariables(root, 'toString')]).toEqual([['A', 'a'], ['B', 'b']]);
  });
});

describe('GitHub Actions uses: with dot segments', () => {
  it('`../../x@v1` is no action of github.com (nor is `./..@v1`); a real one still is', async () => {
    const { ciStepUses } = await import('../../src/kinds/image/image-key.js');
    expect(ciStepUses('jobs.b.steps[0].uses', '../../x@v1')).toBeUndefined();
    expect(ciStepUses('jobs.b.steps[0].uses', './..@v1')).toBeUndefined();
    expect(ciStepUses('jobs.b.steps[0].uses', 'owner/..@v1')).toBeUndefined();
    expect(ciStepUses('jobs.b.steps[0].uses', 'actions/checkout@v4')).toEqual({ action: 'actions/checkout@v4', repo: 'actions/checkout' });
    expect(ciStepUses('jobs.b.steps[0].uses', 'github/codeql-action/init@v3')).toEqual({ action: 'github/codeql-action/init@v3', repo: 'github/codeql-action' });
    const refs: Array<{ value: string; kind: string }> = [];
    scanFileText('.github/workflows/ci.yml', 'yaml', 'jobs:\n  b:\n    runs-on: x\n    steps:\n      - uses: ../../x@v1\n', refs as never, []);
    expect(refs.map((r) => r.value)).not.toContain('https://github.com/../..');
  });
});
