import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { mustRunFerry } from '../support/cli.js';
import { deploymentChart } from '../support/gitops-charts.js';
import { BASE_FILES, pushLayoutImage, writeOciLayout } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/**
 * `rewrite chart` on a chart whose Chart.yaml names a dependency not vendored under charts/ (a
 * chart checked out without `helm dependency build`, or published so): the dependency's images
 * were never read, so the override cannot cover them. The override for the chart's own image is
 * still made (against a lock of a real registry's image), and a warning names the dependency
 * instead of the report looking complete.
 */
let work: string;
let up: RunningRegistry;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '0', FERRY_RETRY_MIN_MS: '10' });

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-design5-'));
  up = await startRegistry({ mode: 'http' });
  const layout = path.join(work, 'imgs');
  await writeOciLayout(layout, [{ name: 'web', platforms: [{ architecture: 'amd64', layers: [{ files: BASE_FILES }] }] }]);
  await pushLayoutImage(up, layout, 'web', 'acme/web:1.0');
  const chart = await deploymentChart(work, 'web', '1.2.0', `image: ${up.host}/acme/web:1.0\n`, '        - name: web\n          image: "{{ .Values.image }}"\n');
  await writeFile(
    path.join(chart, 'Chart.yaml'),
    'apiVersion: v2\nname: web\nversion: 1.2.0\ndependencies:\n  - name: cache\n    version: 2.0.0\n    repository: https://charts.example.invalid/stable\n',
  );
  await mkdir(path.join(work, 'site'));
  await writeFile(path.join(work, 'manifest.yaml'), `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: web }\nimages:\n  - ref: ${up.host}/acme/web:1.0\n`);
  await writeFile(path.join(work, 'site.yaml'), 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry:\n  url: https://mirror.site.internal\n  prefix: mirror\n');
  await mustRunFerry(['lock', 'manifest.yaml'], { cwd: work, env: env() });
}, 120_000);

afterAll(async () => {
  await up?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('rewrite chart names a dependency it could not read', () => {
  it('the override moves the chart\u2019s own image, and a warning says the unvendored dependency is not covered', async () => {
    const r = await mustRunFerry(['rewrite', 'chart', 'src/web', '-t', 'site.yaml', '--lock', 'web.lock.json'], { cwd: work, env: env() });
    const override = parseYaml(r.stdout) as { image?: string };
    expect(override.image).toBe(`mirror.site.internal/mirror/${up.host.replace(':', '-')}/acme/web:1.0`);
    expect(r.stderr).toContain('warning: dependency cache 2.0.0 of web (https://charts.example.invalid/stable) is not vendored under charts/: its images were not read, so the override does not cover them');
  });
});
