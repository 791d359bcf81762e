import { describe, expect, it } from 'vitest';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

/**
 * recall9: a role's `include_vars: "{{ lookup('first_found', params) }}"` with `paths: [vars]`
 * (geerlingguy/ansible-role-docker): Ansible looks a relative name up in the role itself too (its
 * search stack: the role's vars/, the role, the task's directory), so `vars/{{ os }}.yml` names the
 * role's vars/ files; each that can match is a candidate (one finding per value). Old code looked
 * only under `<role>/vars/vars/` and the task's directory, found nothing and left every variable of
 * the role "may be set by that include_vars" (unknown), defaults included.
 */
const FILES: Record<string, string> = {
  'ansible-role-engine/meta/main.yml': 'galaxy_info:\n  role_name: engine\n',
  'ansible-role-engine/defaults/main.yml': 'engine_repo_url: https://pkgs.vendor.io/linux\n',
  'ansible-role-engine/vars/main.yml': '---\n# empty\n',
  'ansible-role-engine/vars/Debian.yml': 'engine_mirror: https://deb.vendor.io/engine\n',
  'ansible-role-engine/vars/RedHat.yml': 'engine_mirror: https://rpm.vendor.io/engine\n',
  'ansible-role-engine/tasks/main.yml': [
    '---', // 1
    '- name: Load OS-specific vars.',
    '  include_vars: "{{ lookup(\'first_found\', params) }}"',
    '  vars:',
    '    params:', // 5
    '      files:',
    "        - '{{ansible_facts.distribution}}.yml'",
    "        - '{{ansible_facts.os_family}}.yml'",
    '        - main.yml',
    '      paths:', // 10
    "        - 'vars'",
    '- name: Repository key.',
    '  get_url:',
    '    url: "{{ engine_repo_url }}/gpg"',
    '    dest: /etc/apt/keyrings/engine.asc', // 15
    '- name: Mirror.',
    '  get_url:',
    '    url: "{{ engine_mirror }}/release"',
    '    dest: /tmp/release',
    '', // 20
  ].join('\n'),
};

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';
const repo = auditedRepo('ferry-recall9-ansible-', FILES, MANIFEST, NESTED_SITE_TARGET);

describe("recall9: include_vars of a first_found lookup with paths: [vars] in a role", () => {
  it("the role's defaults still fill its tasks (the lookup names the role's vars/ files, not an unread file)", () => {
    const f = repo.one('repo/ansible-role-engine/tasks/main.yml', 14);
    expect(f).toMatchObject({ kind: 'url', value: 'https://pkgs.vendor.io/linux/gpg', host: 'pkgs.vendor.io' });
  });

  it("each of the role's vars/ files the lookup can find is a candidate: one finding per value", () => {
    const found = repo.at('repo/ansible-role-engine/tasks/main.yml', 18);
    expect(found.map((f) => f.value).sort()).toEqual(['https://deb.vendor.io/engine/release', 'https://rpm.vendor.io/engine/release']);
    expect(repo.findings.some((f) => f.host === 'unknown' && f.file.startsWith('repo/ansible-role-engine/tasks'))).toBe(false);
  });
});
