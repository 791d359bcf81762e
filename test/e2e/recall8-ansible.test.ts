import { describe, expect, it } from 'vitest';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

/**
 * recall8: a role repository (a Galaxy role: tasks/, defaults/, meta/ at its top, no roles/ above
 * it) is a role: its short-named modules are read and its defaults fill them in; a list argument
 * given as a string is cut at commas and blanks outside `{{ … }}` (deb822_repository uris).
 */
const FILES: Record<string, string> = {
  'ansible-role-mirror/meta/main.yml': 'galaxy_info:\n  role_name: mirror\n  min_ansible_version: "2.14"\n',
  'ansible-role-mirror/defaults/main.yml': 'mirror_url: https://pkgs.vendor.io/linux\nmirror_distro: debian\nmirror_key: "{{ mirror_url }}/gpg"\n',
  'ansible-role-mirror/tasks/main.yml': '---\n- include_tasks: setup-RedHat.yml\n- include_tasks: setup-Debian.yml\n',
  'ansible-role-mirror/tasks/setup-RedHat.yml': [
    '- name: Add the repository.', // 1
    '  get_url:',
    '    url: "{{ mirror_url }}/centos/vendor.repo"',
    '    dest: /etc/yum.repos.d/vendor.repo',
    '', // 5
  ].join('\n'),
  'ansible-role-mirror/tasks/setup-Debian.yml': [
    '- name: Add the repository.', // 1
    '  ansible.builtin.deb822_repository:',
    '    name: vendor',
    '    uris: "{{ mirror_url }}/{{ mirror_distro | lower }}"',
    '    suites: stable', // 5
    '    components: main',
    '    signed_by: "{{ mirror_key }}"',
    '- name: Two URIs in one string.',
    '  ansible.builtin.deb822_repository:',
    '    name: two', // 10
    '    uris: "https://a.vendor.io/debian, https://b.vendor.io/debian"',
    '    suites: stable',
    '',
  ].join('\n'),
};

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';
const repo = auditedRepo('ferry-recall8a-', FILES, MANIFEST, NESTED_SITE_TARGET);
const R = 'repo/ansible-role-mirror';

describe('recall8: a role repository and deb822 uris', () => {
  it("a short-named get_url of a role repository's tasks is read, filled in from its defaults", () => {
    // Old code: no finding (neither the task file nor the defaults were read as a role's).
    const f = repo.one(`${R}/tasks/setup-RedHat.yml`, 3);
    expect(f).toMatchObject({ kind: 'url', value: 'https://pkgs.vendor.io/linux/centos/vendor.repo', host: 'pkgs.vendor.io' });
    expect(f.note).toContain(`${R}/defaults/main.yml:1`);
  });

  it('deb822_repository uris: one URI whatever its {{ … }} hold, filled in from the defaults', () => {
    // Old code: `{{`, `docker_repo_url`, `|`, `lower`, `}}` each reported as an APT URI.
    const f = repo.one(`${R}/tasks/setup-Debian.yml`, 4);
    expect(f).toMatchObject({ kind: 'apt', value: 'https://pkgs.vendor.io/linux/debian', host: 'pkgs.vendor.io' });
    expect(repo.one(`${R}/tasks/setup-Debian.yml`, 7)).toMatchObject({ kind: 'url', value: 'https://pkgs.vendor.io/linux/gpg', host: 'pkgs.vendor.io' });
  });

  it('a string of several URIs is cut at its commas (Ansible) and blanks (APT)', () => {
    const hosts = repo.at(`${R}/tasks/setup-Debian.yml`, 11).map((f) => `${f.kind} ${f.value}`).sort();
    expect(hosts).toEqual(['apt https://a.vendor.io/debian', 'apt https://b.vendor.io/debian']);
  });
});
