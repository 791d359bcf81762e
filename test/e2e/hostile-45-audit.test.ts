import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/audit/audit.js';
import { runFerry } from '../support/cli.js';
import { writeTree } from '../support/fs-tree.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

/** Hostile pass 45 on the audit's newest readers: crafted scripts, Compose files, Dockerfiles and -var-files. */
const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata:\n  name: m\nimages: []\n';
const works: string[] = [];
afterAll(async () => {
  for (const w of works) await rm(w, { recursive: true, force: true });
});

/** `ferry audit <dir> --format json` over `files` written under `dir`, with an empty manifest and a site target; exit 0 expected. */
async function auditTree(dir: string, files: Record<string, string>, env?: NodeJS.ProcessEnv): Promise<AuditReport> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-h45-audit-'));
  works.push(work);
  await writeTree(path.join(work, dir), files);
  await writeFile(path.join(work, 'm.yaml'), MANIFEST);
  await writeFile(path.join(work, 't.yaml'), NESTED_SITE_TARGET);
  const r = await runFerry(['audit', dir, '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: work, ...(env ? { env } : {}) });
  expect(r.code, r.stderr.slice(-2000)).toBe(0);
  return JSON.parse(r.stdout) as AuditReport;
}

/**
 * Hostile pass 45: each `docker compose` command line run in a shell that exports something copied
 * the names the project `.env` sets to values built from shell variables (scan.ts withShellEnv's
 * setUnknown): 8 scripts of 64 such lines over a `.env` of 200 000 `V=${X}` values held 512
 * copies (out of a 512 MB heap). The shell's names are now read over the `.env`'s without a copy.
 */
describe('docker compose in exporting shells, over a .env of values from shell variables', () => {
  it('512 command lines stay within 512 MB of heap; what the shell sets still decides', async () => {
    const files: Record<string, string> = {
      '.env': 'REG=env.vendor.io\nTAG=${CI_TAG}\n' + Array.from({ length: 200_000 }, (_, i) => `V${i}=\${X${i}}\n`).join(''),
      'compose.yaml': 'services:\n  app:\n    image: ${REG}/app:${TAG:-1}\n',
    };
    for (let f = 0; f < 8; f++) files[`run${f}.sh`] = Array.from({ length: 64 }, (_, i) => `export A${f}_${i}=v${f === 0 && i === 0 ? ' TAG=2' : ''}\ndocker compose up\n`).join('');
    // Old code: out of heap (no report).
    const report = await auditTree('big', files, { NODE_OPTIONS: '--max-old-space-size=512' });
    const values = report.findings.filter((x) => x.file === 'big/compose.yaml' && x.line === 3).map((x) => x.value);
    // TAG exported as 2 by run0.sh's first line: known from there on; elsewhere the .env's TAG is set from the CI's, unknown (its default does not apply).
    expect(values).toContain('env.vendor.io/app:2');
    expect(values).toContain('${REG}/app:${TAG:-1}');
    expect(values).not.toContain('env.vendor.io/app:1');
  }, 180_000);
});

/**
 * Hostile pass 45: each `-var-file` argument of each terraform command line walked the whole
 * -var-file for each root module (terraform.ts commandLineVars), and a file named 256 times on one
 * line counted 256 times against the 10 000 command-line settings: 8 small scripts naming a
 * 50 000-variable -var-file 256 times took 10 s, used up the bound, and a later script's
 * `-var registry=…` was not reported. What a -var-file sets of a root module is found once now,
 * and a file named twice on one command line counts once.
 */
const NAMES = ['registry', 'mirror', 'proxy', 'repo', 'host'];
describe('terraform -var-file named again and again by scripts', () => {
  it("a later script's -var still reported; the command-line settings bound not reached", async () => {
    const files: Record<string, string> = {
      'main.tf': NAMES.map((v) => `variable "${v}" {\n  default = "${v}.default.example.com"\n}\n`).join('') + 'resource "null_resource" "a" {\n  triggers = { img = "${var.registry}/app:1" }\n}\n',
      'big.tfvars': Array.from({ length: 50_000 }, (_, i) => `v${i} = 1\n`).join('') + NAMES.map((v) => `${v} = "${v}.tfvars.example.org"\n`).join(''),
      'zz.sh': 'terraform apply -var registry=late.example.org\n',
    };
    for (let f = 0; f < 8; f++) files[`run${f}.sh`] = `terraform plan ${Array(256).fill('-var-file=big.tfvars').join(' ')}\n`;
    const report = await auditTree('tf', files);
    const images = report.findings.filter((x) => x.file === 'tf/main.tf' && x.kind === 'image').map((x) => x.value);
    // Old code: the bound was used up by run7.sh, so zz.sh's value was missing.
    expect(images).toEqual(expect.arrayContaining(['late.example.org/app:1', 'registry.tfvars.example.org/app:1', 'registry.default.example.com/app:1']));
    expect(report.skipped.filter((s) => /terraform/.test(s.reason))).toEqual([]);
  }, 120_000);
});

/**
 * Hostile pass 45: a Dockerfile Compose services build was parsed again whole for every service
 * building it, and every FROM line with a variable was read again for each: a 320 KB Dockerfile
 * of 20 000 `FROM ${B}/app:1` lines built by 64 services took 5 s and wrote 13 MB of report,
 * growing with both. Each distinct set of build args is read once now, and at most 64 such FROM
 * lines a Dockerfile take the builds' args; the rest keep the ARG default, and a skipped row says so.
 */
describe('a Dockerfile of many templated FROM lines built by many services', () => {
  it('the first 64 take the build args, the rest the ARG default, and the bound is a skipped row', async () => {
    const services = Array.from({ length: 32 }, (_, i) => `  s${i}:\n    build:\n      context: .\n      args:\n        B: build.example.com\n`).join('');
    const report = await auditTree('app', {
      Dockerfile: 'ARG B=default.example.com\n' + Array.from({ length: 100 }, (_, i) => `FROM \${B}/app${i}:1\n`).join(''),
      'compose.yaml': `services:\n${services}`,
    });
    const images = report.findings.filter((x) => x.file === 'app/Dockerfile' && x.kind === 'image').map((x) => x.value);
    expect(images.filter((v) => v.startsWith('build.example.com/'))).toHaveLength(64);
    expect(images).toContain('build.example.com/app63:1');
    expect(images).toContain('default.example.com/app64:1');
    expect(images).not.toContain('build.example.com/app64:1');
    expect(report.skipped.filter((s) => s.file === 'app/Dockerfile').map((s) => s.reason)).toEqual([expect.stringMatching(/more than 64 FROM lines with a variable.*from line 66 on are read with the Dockerfile's ARG defaults only/)]);
  }, 60_000);
});
