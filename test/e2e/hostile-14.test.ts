import { mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { mustRun, ROOT, runFerry } from '../support/cli.js';

/**
 * Hostile pass 14, through the built CLI, on the features of the day: `bundle split`, kustomize
 * remote bases and helmCharts, Compose interpolation from `.env`.
 *
 * What tripped:
 * - a `.partial` name planted beside the split's output as a link to an input part: the split
 *   opened it for writing through the link, overwrote the part it was about to read, then said
 *   "nothing was written";
 * - `image: ${A}${A}…` (2000 times) with a 1 MB `A` in the `.env`: audit died ("Invalid string length");
 * - `https://user:token@…` in a kustomization's resources or helmCharts: printed as written by
 *   audit and rewrite manifests.
 */

let work: string;
const audit = (dir: string, ...extra: string[]) => runFerry(['audit', dir, '--manifest', path.join(ROOT, 'manifests/ccx.yaml'), '-t', path.join(ROOT, 'mirror-targets/ccx.yaml'), ...extra], { timeoutMs: 120_000 });

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile14-'));
});

describe('bundle split: output names that reach the input', () => {
  async function splitBundleDir(name: string): Promise<string> {
    const dir = path.join(work, name);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'blob'), randomBytes(300_000));
    await mustRun('tar', ['cf', 'in.tar', 'blob'], { cwd: dir });
    const r = await runFerry(['bundle', 'split', 'in.tar', '--split-size', '100000', '-q'], { cwd: dir });
    expect(r.code).toBe(0);
    return dir;
  }

  it('a .partial planted as a link to an input part is not written through (the part was overwritten)', async () => {
    const dir = await splitBundleDir('planted');
    const before = await readFile(path.join(dir, 'in.tar.002'));
    await symlink('in.tar.002', path.join(dir, 'y.tar.001.partial'));
    await symlink('in.tar.003', path.join(dir, 'y.tar.parts.partial'));
    const r = await runFerry(['bundle', 'split', 'in.tar.parts', '--split-size', '150000', '-o', 'y.tar', '-q'], { cwd: dir });
    // The planted names are an unfinished split's leftovers to the next one: removed (the links, not
    // what they lead to) and named, never written through, never taken for the input.
    expect(r.stderr).toContain('removed y.tar.001.partial and y.tar.parts.partial');
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect((await readFile(path.join(dir, 'in.tar.002'))).equals(before)).toBe(true);
    const joined = Buffer.concat(await Promise.all(['y.tar.001', 'y.tar.002', 'y.tar.003'].map((f) => readFile(path.join(dir, f)))));
    expect(joined.equals(await readFile(path.join(dir, 'in.tar')))).toBe(true);
  });

  it('an input named like a part the split writes (b.tar.002 for -o b.tar, no b.tar.001) is refused', async () => {
    const dir = await splitBundleDir('hole');
    await mustRun('cp', ['in.tar', 'b.tar.002'], { cwd: dir });
    const r = await runFerry(['bundle', 'split', 'b.tar.002', '--split-size', '150000', '-o', 'b.tar'], { cwd: dir });
    expect(r.stderr).toContain('writing the parts there would replace b.tar.002, which is being read');
    expect(r.code).toBe(2);
    expect(existsSync(path.join(dir, 'b.tar.001'))).toBe(false);
  });
});

describe('audit: Compose interpolation from a crafted .env', () => {
  it('2000 ${A} of a 1 MB A: the image is left as written, named (the audit died)', async () => {
    const dir = path.join(work, 'compose-bomb');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, '.env'), `A=${'x'.repeat(1_000_000)}\n`);
    await writeFile(path.join(dir, 'compose.yaml'), `services:\n  web:\n    image: "${'${A}'.repeat(2000)}"\n`);
    const r = await audit(dir, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const f = (JSON.parse(r.stdout) as { findings: Array<{ keyPath?: string; value: string; provenance?: string }> }).findings.find((x) => x.keyPath === 'services.web.image');
    expect(f?.value).toBe('${A}'.repeat(2000));
    expect(JSON.stringify(f)).toContain('longer than 4096 characters, no image reference; left as written');
  });
});

describe('credentials in a kustomization are not printed', () => {
  const KUSTOMIZATION = [
    'apiVersion: kustomize.config.k8s.io/v1beta1',
    'kind: Kustomization',
    'resources:',
    '- https://user:s3cretTOKEN@github.com/org/repo//base?ref=v1',
    '- git::https://bob:hunter2@gitlab.example.com/org/repo.git',
    'helmCharts:',
    '- name: web',
    '  repo: https://alice:chartpass@charts.example.com/stable',
    '  version: 1.0.0',
    '',
  ].join('\n');
  const SECRETS = /s3cretTOKEN|hunter2|chartpass/;

  it('audit (md, json, csv) names the remote entries with the credentials masked', async () => {
    const dir = path.join(work, 'creds-audit');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'kustomization.yaml'), KUSTOMIZATION);
    for (const format of ['md', 'json', 'csv']) {
      const r = await audit(dir, '--format', format);
      expect(r.code).toBe(0);
      expect(r.stdout + r.stderr).not.toMatch(SECRETS);
      expect(r.stdout).toContain('https://***:***@github.com/org/repo//base?ref=v1');
      expect(r.stdout).toContain('git::https://***:***@gitlab.example.com/org/repo.git');
      expect(r.stdout).toContain('https://***:***@charts.example.com/stable');
    }
  });

  it('rewrite manifests warns and lists them with the credentials masked', async () => {
    const dir = path.join(work, 'creds-rewrite');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'kustomization.yaml'), KUSTOMIZATION);
    const r = await runFerry(['rewrite', 'manifests', dir, '-t', path.join(ROOT, 'test/fixtures/rewrite/target.yaml'), '--lock', path.join(ROOT, 'test/fixtures/rewrite/lock.json'), '--allow-unmapped']);
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(SECRETS);
    expect(r.stderr).toContain('Kustomization resources[0] is https://***:***@github.com/org/repo//base?ref=v1');
    expect(r.stdout + r.stderr).toContain('chart web 1.0.0 from https://***:***@charts.example.com/stable');
  });
});
