import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditTree } from '../support/audit-repo.js';

/**
 * Hostile inputs, round 29: the audit's readers of Ansible variables (audit/ansible.ts) and of
 * configuration documents inside strings (audit/embedded.ts), against the built CLI. A scanned tree
 * is hostile: its size bounds the time and the report, not its shape.
 */
let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile29-audit-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});


describe('an INI document inside a ConfigMap value', () => {
  it('a 1 MB line of blanks is read in one pass, and the destination key after it is still found (the key = value pattern backtracked: 300 KB took 29 s)', async () => {
    const dir = path.join(work, 'ini');
    await mkdir(path.join(dir, 'tree'), { recursive: true });
    const long = `a=b${' '.repeat(1_000_000)}x`;
    const section = `[${' '.repeat(200_000)}y`;
    await writeFile(
      path.join(dir, 'tree', 'cm.yaml'),
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  app.ini: |\n    [smtp]\n    ${long}\n    ${section}\n    host = "mail.vendor.example"\n`,
    );
    const report = await auditTree(dir, 50_000);
    const hosts = report.findings.filter((f) => f.kind === 'host');
    expect(hosts.map((f) => [f.keyPath, f.value, f.line])).toEqual([['data.app.ini.smtp.host', 'mail.vendor.example', 10]]);
  }, 60_000);
});

describe('an Ansible variable set in many places', () => {
  it('the note of each task using it names the first places and how many more, not all of them (50 000 places x 1 000 tasks wrote a 5 GB report, 4.6 GB of memory)', async () => {
    const dir = path.join(work, 'places');
    await mkdir(path.join(dir, 'tree', 'group_vars'), { recursive: true });
    await mkdir(path.join(dir, 'tree', 'roles', 'r', 'tasks'), { recursive: true });
    const n = 20_000;
    // One key repeated (duplicate keys are read, as Ansible reads them) and one set to a single value everywhere.
    const vars = Array.from({ length: n }, (_, i) => `mirror: "h${i}.vendor.example"\nsame: "one.vendor.example"\n`).join('');
    await writeFile(path.join(dir, 'tree', 'group_vars', 'all.yml'), vars);
    const tasks = Array.from({ length: 3 }, (_, i) => `- get_url:\n    url: "https://{{ mirror }}/${i}"\n    dest: /tmp/x\n- get_url:\n    url: "https://{{ same }}/${i}"\n    dest: /tmp/y\n`).join('');
    await writeFile(path.join(dir, 'tree', 'roles', 'r', 'tasks', 'main.yml'), tasks);
    const report = await auditTree(dir, 80_000);
    const fromTasks = report.findings.filter((f) => f.file.endsWith('main.yml'));
    const several = fromTasks.filter((f) => f.value.includes('{{ mirror }}'));
    expect(several).toHaveLength(3);
    for (const f of several) {
      expect(f.note).toContain(`{{ mirror }} is set to ${n} different values (tree/group_vars/all.yml:1 = h0.vendor.example; tree/group_vars/all.yml:3 = h1.vendor.example;`);
      expect(f.note).toContain(`and ${n - 5} more places): which applies depends on the host`);
      expect(f.note!.length).toBeLessThan(2_000);
    }
    const resolved = fromTasks.filter((f) => f.value.startsWith('https://one.vendor.example/'));
    expect(resolved.map((f) => f.value).sort()).toEqual([0, 1, 2].map((i) => `https://one.vendor.example/${i}`));
    for (const f of resolved) {
      expect(f.provenance).toContain(`and ${n - 5} more places)`);
      expect(f.provenance!.length).toBeLessThan(2_000);
    }
  }, 90_000);
});
