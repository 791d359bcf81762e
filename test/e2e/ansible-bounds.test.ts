import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { isAnsibleText } from '../../src/audit/ansible.js';
import type { AuditReport } from '../../src/audit/audit.js';

/**
 * Ansible reading (audit/ansible.ts) against crafted and unrelated input: Jinja `{{` with no
 * `}}` is scanned once (a lazy regex retried from every `{{`: ~2 minutes for a 600 KB line), and a
 * Kubernetes manifest with `hosts:` (an Ingress's TLS hosts) is no playbook.
 */

let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-ansible-bounds-'));
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('Ansible reading, bounded', () => {
  it('a variables file with 300 000 unclosed {{ on one URL line is read in linear time, the URL still found', async () => {
    const dir = path.join(work, 'site');
    await mkdir(path.join(dir, 'group_vars'), { recursive: true });
    await mkdir(path.join(dir, 'roles/web/tasks'), { recursive: true });
    await writeFile(path.join(dir, 'group_vars', 'all.yml'), `crafted_url: "https://dl.vendor.example/{{ version }}/${'{{'.repeat(300_000)}"\nversion: "1.2"\n`);
    await writeFile(path.join(dir, 'roles/web/tasks/main.yml'), '- name: fetch\n  ansible.builtin.get_url:\n    url: "https://dl.vendor.example/{{ version }}/tool.tgz"\n    dest: /opt/tool.tgz\n');
    await writeFile(path.join(dir, 'm.yaml'), 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: m }\n');
    // Killed after 30 s: the old reading took ~2 minutes (13 s at 100 000) (and held the event loop, so no in-process timer could stop it).
    const r = await runFerry(['audit', 'site', '--manifest', 'site/m.yaml', '--format', 'json'], { cwd: work, timeoutMs: 30_000 });
    expect(r.stdout.length, r.stderr).toBeGreaterThan(0);
    const urls = (JSON.parse(r.stdout) as AuditReport).findings.filter((f) => f.file === 'site/roles/web/tasks/main.yml').map((f) => f.value);
    expect(urls).toContain('https://dl.vendor.example/1.2/tool.tgz');
  }, 90_000);

  it("an Ingress's or VirtualService's hosts: is no playbook; a playbook and a task list are", () => {
    const ingress = 'apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\nspec:\n  tls:\n    - hosts:\n        - web.site.internal\n      secretName: web\n';
    const vs = 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: web\nspec:\n  hosts:\n  - web\n';
    expect(isAnsibleText('apps/ingress.yaml', ingress)).toBe(false);
    expect(isAnsibleText('apps/vs.yaml', vs)).toBe(false);
    expect(isAnsibleText('site.yml', '- hosts: all\n  roles: [web]\n')).toBe(true);
    expect(isAnsibleText('site.yml', '- name: Play\n  hosts: all\n  tasks: []\n')).toBe(true);
    expect(isAnsibleText('tasks.yml', '- name: get\n  ansible.builtin.get_url:\n    url: https://x.example/a\n')).toBe(true);
  });
});
