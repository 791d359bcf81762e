import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditTree } from '../support/audit-repo.js';

/**
 * Hostile inputs, round 31: what newuser39 added to the Ansible reader (play vars and vars_files,
 * roles listed by plays, inventories), against the built CLI. The tree's size bounds time and
 * memory, not how often one file is named.
 */
let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile31-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});


describe('Ansible and Terraform variables named many times over', () => {
  it('one vars_files of 2 000 variables named by 5 000 plays: the settings stop at a bound and the variables are then unknown, naming it (10 million settings held before)', async () => {
    const dir = path.join(work, 'vars-files');
    await mkdir(path.join(dir, 'tree', 'vars'), { recursive: true });
    await writeFile(path.join(dir, 'tree', 'vars', 'big.yml'), Array.from({ length: 2000 }, (_, i) => `v${i}: "h${i}.vendor.example"\n`).join('') + 'mirror: "mirror.vendor.example"\n');
    const plays = Array.from({ length: 5000 }, () => '- hosts: all\n  vars_files: [vars/big.yml]\n  tasks:\n    - get_url: { url: "https://{{ mirror }}/x", dest: /tmp/x }\n').join('');
    await writeFile(path.join(dir, 'tree', 'site.yml'), plays);
    const report = await auditTree(dir, 60_000);
    const urls = report.findings.filter((f) => f.file.endsWith('site.yml') && f.value.includes('/x'));
    expect(urls.length).toBeGreaterThan(0);
    // Past the bound no value is claimed: the URL stays as written, the note says why.
    expect(urls.every((f) => f.value === 'https://{{ mirror }}/x')).toBe(true);
    expect(JSON.stringify(urls[0])).toContain('more than 200,000 Ansible variables');
  }, 90_000);

  it('a role listed by 40 000 plays: each play\'s vars reach its tasks, the list of plays built once (it was copied per play: 12 s before, 5 s now, most of it parsing)', async () => {
    const dir = path.join(work, 'role-plays');
    await mkdir(path.join(dir, 'tree', 'roles', 'r', 'tasks'), { recursive: true });
    await writeFile(path.join(dir, 'tree', 'roles', 'r', 'tasks', 'main.yml'), '- get_url:\n    url: "https://{{ mirror }}/y"\n    dest: /tmp/y\n');
    await writeFile(path.join(dir, 'tree', 'site.yml'), Array.from({ length: 40_000 }, () => '- hosts: all\n  vars: { mirror: m.vendor.example }\n  roles: [r]\n').join(''));
    const report = await auditTree(dir, 60_000);
    const y = report.findings.filter((f) => f.file === 'tree/roles/r/tasks/main.yml');
    // Every play sets the same value: it is known, for every host.
    expect(y.map((f) => f.value)).toContain('https://m.vendor.example/y');
  }, 90_000);

  it('a terraform.tfvars.json of 200 000 keys written with escapes, then a real one: read in one pass (each key looked for through the rest of the text: quadratic)', async () => {
    const dir = path.join(work, 'tfvars-json');
    await mkdir(path.join(dir, 'tree'), { recursive: true });
    const keys = Array.from({ length: 200_000 }, (_, i) => `"\\u0076${i}": "x"`).join(',\n');
    await writeFile(path.join(dir, 'tree', 'terraform.tfvars.json'), `{\n${keys},\n"registry": "registry.vendor.example"\n}\n`);
    await writeFile(path.join(dir, 'tree', 'main.tf'), 'variable "registry" {}\nresource "kubernetes_pod" "p" {\n  image = "${var.registry}/app:1"\n}\n');
    const report = await auditTree(dir, 60_000);
    expect(report.findings.map((f) => f.value)).toContain('registry.vendor.example/app:1');
  }, 90_000);
});
