import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * The small things a new user meets in the first hour, through the built CLI: unreadable files
 * said in words, help pages with examples, short usage errors, -t wherever a target is taken,
 * audit --fail-on saying why, rewrite -o saying what it wrote, import saying "verified" once.
 */

const FX = 'test/fixtures/rewrite';
const AUDIT = ['--manifest', 'manifests/ccx.yaml', '-t', 'mirror-targets/ccx.yaml'];
let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-newcomer-'));
  await mkdir(path.join(work, 'a-directory'));
});

afterAll(async () => {
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

/** Every command path below `ferry`, read from the help pages as a user would find them. */
async function commandPaths(prefix: string[] = []): Promise<string[][]> {
  const r = await runFerry([...prefix, '--help']);
  const section = r.stdout.split(/^Commands:$/m)[1]?.split(/^\S/m)[0] ?? '';
  const names = [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]).filter((n) => n !== 'help');
  const below = await Promise.all(names.map((n) => commandPaths([...prefix, n])));
  return names.flatMap((n, i) => [[...prefix, n], ...below[i]]);
}

let helpPages: Promise<Array<{ path: string[]; code: number; text: string }>> | undefined;
/** `ferry --help` and every command's --help, read once. */
function allHelp() {
  helpPages ??= commandPaths().then((paths) =>
    Promise.all([[], ...paths].map(async (p) => {
      const r = await runFerry([...p, '--help']);
      return { path: p, code: r.code, text: r.stdout };
    })),
  );
  return helpPages;
}

describe('a file that cannot be read is said in words, with a hint', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['a missing manifest', ['lock', 'nope/manifest.yaml'], /manifest\.yaml: cannot read manifest: no such file\nhint: Check the path/],
    ['a directory as the manifest', ['inventory', '<work>/a-directory'], /a-directory: cannot read manifest: is a directory, not a file\nhint: Pass the manifest file itself/],
    ['a missing mirror target', ['map', `${FX}/lock.json`, '-t', 'nope-target.yaml'], /nope-target\.yaml: cannot read mirror target: no such file\nhint: /],
    ['a directory as the mirror target', ['map', `${FX}/lock.json`, '-t', '<work>/a-directory'], /a-directory: cannot read mirror target: is a directory, not a file/],
    ['a directory as a values file', ['rewrite', 'values', '<work>/a-directory', '-t', `${FX}/target.yaml`, '--lock', `${FX}/lock.json`], /a-directory: cannot read values file: is a directory, not a file/],
    ['a missing chart values file', ['charts', 'images', `${FX}/chart`, '--values', 'nope-values.yaml'], /nope-values\.yaml: cannot read values file: no such file/],
    ['a missing --ca-file', ['lock', 'manifests/demo.yaml', '--ca-file', 'nope-ca.pem', '-o', '<work>/x.lock.json'], /nope-ca\.pem: cannot read CA file: no such file\nhint: Pass the path of a PEM file/],
    ['a missing public key', ['bundle', 'verify', 'nope.tar', '--key', 'nope.pub'], /nope\.pub: cannot read the public key: no such file/],
    ['a directory as the bundle', ['bundle', 'verify', '<work>/a-directory'], /a-directory: cannot read bundle: is a directory, not a file\nhint: Pass the bundle \.tar/],
    ['a missing bundle', ['sbom', 'nope.tar'], /nope\.tar: cannot read bundle: no such file/],
  ];
  for (const [name, args, expected] of cases) {
    it(name, async () => {
      const r = await runFerry(args.map((a) => a.replace('<work>', work)));
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(expected);
      expect(r.stderr).not.toMatch(/ENOENT|EISDIR|unexpected error/);
    });
  }
});

describe('help and usage errors', () => {
  it('every command, and ferry itself, ends its --help with examples', async () => {
    const pages = await allHelp();
    expect(pages.length).toBeGreaterThan(20);
    const without: string[] = [];
    for (const { path: p, code, text } of pages) {
      expect(code).toBe(0);
      const examples = text.split(/^Examples:$/m)[1];
      if (!examples || !examples.includes(`ferry ${p.join(' ')}`.trim())) without.push(p.join(' ') || 'ferry');
    }
    expect(without).toEqual([]);
    // Some 25 CLI starts: on a loaded two-core machine this takes a while.
  }, 600_000);

  it('a usage error prints the error and one line pointing at --help, not the whole help page', async () => {
    const missing = await runFerry(['lock']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe("error: missing required argument 'manifest'\nRun `ferry lock --help` for the options and examples.\n");
    const option = await runFerry(['bundle', 'create', 'manifest.yaml']);
    expect(option.code).toBe(2);
    expect(option.stderr).toContain('Run `ferry bundle create --help` for the options and examples.');
    expect(option.stderr).not.toMatch(/Usage:|Options:/);
    const unknown = await runFerry(['lok']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'lok'\n\(Did you mean lock\?\)\nRun `ferry --help` for the commands and examples\.\n$/);
  });

  it('a mirror target is -t, --target wherever one is taken', async () => {
    const takers: string[] = [];
    for (const { path: p, text: help } of await allHelp()) {
      if (!/--target\b/.test(help)) continue;
      takers.push(p.join(' '));
      expect(help, p.join(' ')).toMatch(/-t, --target </);
    }
    expect(takers).toEqual(expect.arrayContaining(['audit', 'serve', 'import', 'map', 'report', 'rewrite values', 'mirror-config']));
    const audit = await runFerry(['audit', 'test/fixtures/audit/clean', ...AUDIT, '--json']);
    expect(audit.code, audit.stderr).toBe(0);
    expect(JSON.parse(audit.stdout).target).toBe('mirror-targets/ccx.yaml');
  });
});

describe('audit --fail-on says why it exits 5', () => {
  it('names the undeclared references on stderr, also with --json', async () => {
    const r = await runFerry(['audit', 'test/fixtures/audit/site', ...AUDIT, '--fail-on', 'unmapped', '--json']);
    expect(r.code).toBe(5);
    expect(JSON.parse(r.stdout).failed).toBe(true);
    expect(r.stderr).toContain('audit failed (--fail-on unmapped, exit 5): 3 undeclared external references');
    expect(r.stderr).toContain('test/fixtures/audit/site/install.sh:4  https://get.acme-tools.io/install.sh  (undeclared)');
    expect(r.stderr).toMatch(/^hint: /m);
  });

  it('names the unmet mitigations with --fail-on unmitigated', async () => {
    const r = await runFerry(['audit', 'test/fixtures/audit/site/app.env', ...AUDIT, '--fail-on', 'unmitigated', '--format', 'csv']);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('1 declared reference whose mitigation is not in place');
    expect(r.stderr).toContain('(declared-unmitigated: pagerduty)');
    expect(r.stderr).toContain('mitigation of pagerduty (PagerDuty): not in place');
  });
});

describe('rewrite -o says what it wrote', () => {
  it('the override, not "changed 1 file"; a rerun says it is up to date', async () => {
    const values = path.join(work, 'values.yaml');
    await copyFile(`${FX}/values.yaml`, values);
    const args = ['rewrite', 'values', 'values.yaml', '-t', path.resolve(`${FX}/target.yaml`), '--lock', path.resolve(`${FX}/lock.json`), '-o', 'mirror.yaml'];
    const first = await runFerry(args, { cwd: work });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('7 replacements; wrote the override mirror.yaml (values.yaml left unchanged)');
    expect(first.stdout).not.toMatch(/\bchanged \d+ file/);
    const again = await runFerry(args, { cwd: work });
    expect(again.stdout).toContain('7 replacements; the override mirror.yaml is already up to date (values.yaml left unchanged)');
    const copy = await runFerry(['rewrite', 'catalogue', path.resolve(`${FX}/catalogue.json`), '-t', `${FX}/target.yaml`, '--lock', `${FX}/lock.json`, '-o', path.join(work, 'catalogue.json')]);
    expect(copy.code, copy.stderr).toBe(0);
    expect(copy.stdout).toMatch(/2 replacements; wrote \S*catalogue\.json \(\S*test\/fixtures\/rewrite\/catalogue\.json left unchanged\)/);
  });
});

describe('import says "verified" once', () => {
  let server: StaticServer;
  beforeAll(async () => {
    await mkdir(path.join(work, 'srv'));
    await writeFile(path.join(work, 'srv', 'tool.bin'), randomBytes(4096));
    server = await startStaticServer(path.join(work, 'srv'));
  });
  afterAll(async () => server?.close());

  it('the result line, not also a "verify: verified" progress line', async () => {
    const sha = createHash('sha256').update(await readFile(path.join(work, 'srv', 'tool.bin'))).digest('hex');
    await writeFile(path.join(work, 'manifest.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: newcomer }', 'files:', '  - name: tool', `    url: ${server.url}/tool.bin`, `    sha256: ${sha}`, ''].join('\n'));
    await writeFile(path.join(work, 'site.yaml'), 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nfiles: { dir: ./files, baseUrl: "https://files.site.internal" }\n');
    const env = { FERRY_CACHE_DIR: path.join(work, 'cache') };
    const made = await runFerry(['bundle', 'create', 'manifest.yaml', '-o', 'app.ferry.tar'], { cwd: work, env });
    expect(made.code, made.stderr).toBe(0);
    const r = await runFerry(['import', 'app.ferry.tar', '-t', 'site.yaml'], { cwd: work, env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^verified \d+ files /m);
    expect(`${r.stdout}\n${r.stderr}`.match(/verified/g)).toHaveLength(1);
  });
});
