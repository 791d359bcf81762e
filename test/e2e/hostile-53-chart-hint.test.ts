import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { chartLocationHint } from '../../src/kinds/chart/load.js';
import { packageChart, writeHelmLayout, writeRepoIndex, type PackagedChart } from '../support/chart-repo.js';
import { mustRun, runFerry } from '../support/cli.js';
import { skopeoEnv, startRegistry, type RunningRegistry } from '../support/registry.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * The hint ferry gives where a chart location is no file said of an `oci://` chart "ferry renders a
 * chart on disk, not a registry reference: pull it first" and of a URL "not a URL: download the
 * archive first" — untrue since `ferry charts images` and `ferry rewrite chart` fetch both. Each
 * command the hint now names is run as written against a real registry (the chart pushed with
 * skopeo as `helm push` lays it out) and a loopback chart repository, and lists the chart's image.
 */
let work: string;
let reg: RunningRegistry;
let http: StaticServer;
let hello: PackagedChart;
const env = () => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRIES: '1', FERRY_RETRY_MIN_MS: '50' });

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile53-hint-'));
  const src = path.join(work, 'src', 'hello');
  await mkdir(path.join(src, 'templates'), { recursive: true });
  await writeFile(path.join(src, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'hello', version: '1.2.3' }));
  await writeFile(path.join(src, 'templates', 'pod.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: hello\nspec:\n  containers:\n    - name: c\n      image: registry.example.com/team/hello:1.2.3\n');
  const repo = path.join(work, 'public', 'charts');
  hello = await packageChart(src, repo);
  await writeRepoIndex(repo, [hello]);
  http = await startStaticServer(path.join(work, 'public'));
  reg = await startRegistry({ mode: 'http' });
  await writeHelmLayout(path.join(work, 'layout'), hello, 'hello');
  await mustRun('skopeo', ['copy', '--dest-tls-verify=false', `oci:${path.join(work, 'layout')}:hello`, `docker://${reg.host}/charts/hello:1.2.3`], { env: skopeoEnv() });
}, 120_000);

afterAll(async () => {
  await reg?.stop();
  await http?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** The `ferry charts images …` command a hint names, as its arguments. */
function namedCommand(hint: string): string[] {
  const m = /`ferry (charts images [^`]+)`/.exec(hint);
  expect(m, hint).not.toBeNull();
  return m![1].split(' ');
}

async function listsTheImage(args: string[]) {
  const r = await runFerry(args, { cwd: work, env: env() });
  expect(r.code, `${args.join(' ')}\n${r.stdout}${r.stderr}`).toBe(0);
  expect(r.stdout).toContain('registry.example.com/team/hello:1.2.3');
}

describe('the hint for a chart location that is a registry reference or a URL', () => {
  it('oci://…:<tag> and oci://… without one: the hint names charts images with --version, and that command fetches the chart', { timeout: 60_000 }, async () => {
    const tagged = chartLocationHint(`oci://${reg.host}/charts/hello:1.2.3`);
    expect(tagged).not.toMatch(/not a registry reference/);
    await listsTheImage(namedCommand(tagged));
    const bare = chartLocationHint(`oci://${reg.host}/charts/hello`);
    await listsTheImage(namedCommand(bare).map((a) => (a === '<version>' ? '1.2.3' : a)));
    expect(bare).toContain('helm pull');
  });

  it('an archive URL: the hint names charts images on it, and that command fetches the chart; a repository URL with --chart and --version does too', { timeout: 60_000 }, async () => {
    const hint = chartLocationHint(`${http.url}/charts/${path.basename(hello.file)}`);
    expect(hint).not.toMatch(/not a URL/);
    await listsTheImage(namedCommand(hint));
    expect(hint).toContain('a repository URL with --chart <name> --version <version>');
    await listsTheImage(['charts', 'images', `${http.url}/charts`, '--chart', 'hello', '--version', '1.2.3']);
  });
});
