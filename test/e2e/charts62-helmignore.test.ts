import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';

/**
 * `.helmignore` is read as Helm reads it: Go's filepath.Match (`[!a]` is the class of `!` and `a`,
 * not a negation; `\` escapes; a class opening with `]` is a bad pattern), Helm's rule order (a
 * `!x` rule ignores every path x does not match), and only for a chart directory: a packaged
 * chart is taken whole, its .helmignore one more file. The expected image lists are what the
 * independent oracle (/work/shared/tools/chartrender, Go text/template with Helm's loader rules)
 * printed for these same charts: `chartrender DIR -images`.
 */
let work: string;

const pod = (name: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  containers:
    - name: c
      image: registry.example.com/ign/${name}:1
`;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-charts62-'));
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function chart(dir: string, helmignore: string): Promise<string> {
  await mkdir(path.join(dir, 'templates'), { recursive: true });
  await writeFile(path.join(dir, 'Chart.yaml'), 'apiVersion: v2\nname: ign\nversion: 1.0.0\n');
  await writeFile(path.join(dir, '.helmignore'), helmignore);
  const templates: Record<string, string> = { 'a-one': 'aone', 'b-two': 'btwo', '[x]': 'x', '!bang': 'bang', c: 'c', '.dot': 'dot' };
  for (const [file, name] of Object.entries(templates)) await writeFile(path.join(dir, 'templates', `${file}.yaml`), pod(name));
  return dir;
}

async function images(location: string): Promise<string[]> {
  const r = await runFerry(['charts', 'images', location, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { charts: Array<{ images: Array<{ ref: string }> }> }).charts[0].images.map((i) => i.ref).sort();
}

const FORMS = '# Go filepath.Match forms\ntemplates/[!a]*.yaml\ntemplates/\\[x\\].yaml\n';

describe('.helmignore as Helm reads it', () => {
  it("a chart directory: `[!a]` is Go's class of `!` and `a`, `\\[x\\]` escapes, dot files in templates/ are dropped", async () => {
    const dir = await chart(path.join(work, 'ign'), FORMS);
    expect(await images(dir)).toEqual(['registry.example.com/ign/btwo:1', 'registry.example.com/ign/c:1']);
  }, 60_000);

  it('a packaged chart holding the same .helmignore: every template is rendered, as Helm loads an archive', async () => {
    const dir = await chart(path.join(work, 'pack', 'ign'), FORMS);
    const tgz = path.join(work, 'ign-1.0.0.tgz');
    await promisify(execFile)('tar', ['-czf', tgz, '-C', path.dirname(dir), 'ign']);
    expect(await images(tgz)).toEqual(['aone', 'bang', 'btwo', 'c', 'dot', 'x'].map((n) => `registry.example.com/ign/${n}:1`));
  }, 60_000);

  it('refuses what Helm refuses: a `!` rule that drops Chart.yaml, `**`, a class opening with `]`', async () => {
    const base = await chart(path.join(work, 'base'), '');
    const cases: Array<[string, RegExp]> = [
      ['*.txt\n!keep.txt\n', /Chart\.yaml file is missing: the chart's \.helmignore drops it/],
      ['docs/**\n', /\.helmignore line 1: "docs\/\*\*": double-star \(\*\*\) syntax is not supported/],
      ['# first\ntemplates/[]a]*.yaml\n', /\.helmignore line 2: "templates\/\[\]a\]\*\.yaml": syntax error in pattern/],
    ];
    for (const [i, [helmignore, message]] of cases.entries()) {
      const dir = path.join(work, `refused-${i}`);
      await cp(base, dir, { recursive: true });
      await writeFile(path.join(dir, '.helmignore'), helmignore);
      const r = await runFerry(['charts', 'images', dir]);
      expect(r.code, r.stdout).not.toBe(0);
      expect(r.stderr).toMatch(message);
    }
  }, 60_000);
});
