import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/audit/audit.js';
import { runFerry } from '../support/cli.js';
import { writeTree } from '../support/fs-tree.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

/**
 * Hostile pass 45: each `-var-file` argument of each terraform command line walked the whole
 * -var-file for each root module (terraform.ts commandLineVars), and a file named 256 times on one
 * line counted 256 times against the 10 000 command-line settings: 8 small scripts naming a
 * 50 000-variable -var-file 256 times took 10 s, used up the bound, and a later script's
 * `-var registry=…` was not reported. What a -var-file sets of a root module is found once now,
 * and a file named twice on one command line counts once.
 */
const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata:\n  name: m\nimages: []\n';
const NAMES = ['registry', 'mirror', 'proxy', 'repo', 'host'];
let work: string | undefined;
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('terraform -var-file named again and again by scripts', () => {
  it("a later script's -var still reported; the command-line settings bound not reached", async () => {
    const files: Record<string, string> = {
      'main.tf': NAMES.map((v) => `variable "${v}" {\n  default = "${v}.default.example.com"\n}\n`).join('') + 'resource "null_resource" "a" {\n  triggers = { img = "${var.registry}/app:1" }\n}\n',
      'big.tfvars': Array.from({ length: 50_000 }, (_, i) => `v${i} = 1\n`).join('') + NAMES.map((v) => `${v} = "${v}.tfvars.example.org"\n`).join(''),
      'zz.sh': 'terraform apply -var registry=late.example.org\n',
    };
    for (let f = 0; f < 8; f++) files[`run${f}.sh`] = `terraform plan ${Array(256).fill('-var-file=big.tfvars').join(' ')}\n`;
    work = await mkdtemp(path.join(os.tmpdir(), 'ferry-h45-tf-'));
    await writeTree(path.join(work, 'tf'), files);
    await writeFile(path.join(work, 'm.yaml'), MANIFEST);
    await writeFile(path.join(work, 't.yaml'), NESTED_SITE_TARGET);
    const r = await runFerry(['audit', 'tf', '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: work });
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    const report = JSON.parse(r.stdout) as AuditReport;
    const images = report.findings.filter((x) => x.file === 'tf/main.tf' && x.kind === 'image').map((x) => x.value);
    // Old code: the bound was used up by run7.sh, so zz.sh's value was missing.
    expect(images).toEqual(expect.arrayContaining(['late.example.org/app:1', 'registry.tfvars.example.org/app:1', 'registry.default.example.com/app:1']));
    expect(report.skipped.filter((s) => /terraform/.test(s.reason))).toEqual([]);
  }, 120_000);
});
