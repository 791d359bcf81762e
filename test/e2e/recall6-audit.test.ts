import { describe, expect, it } from 'vitest';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

/**
 * recall6: audit precision (an Ansible module argument that is no destination by the module's own
 * semantics is no finding) and recall (a loop's or first_found's include_vars candidates, a file
 * loaded under a `name:`, nested roles; a container image or a git remote whose host is a template).
 */
const FILES: Record<string, string> = {
  // Precision: local paths, a controller-side unarchive, package names.
  'site/group_vars/all.yml': ['credentials_dir: "{{ inventory_dir }}/credentials"', 'rpm_url: https://rpms.vendor.io/tool.rpm', 'manifests_dir: "{{ ansible_env.HOME }}/kube-manifests"', ''].join('\n'),
  'site/play.yml': [
    '- hosts: all', // 1
    '  tasks:',
    '    - ansible.builtin.unarchive:',
    '        src: "{{ download.dest }}"',
    '        dest: /opt', // 5
    '    - ansible.builtin.unarchive:',
    '        src: "{{ archive_src }}"',
    '        dest: /opt',
    '        remote_src: true',
    '    - ansible.builtin.package:', // 10
    '        name: "{{ item.packages }}"',
    '    - ansible.builtin.dnf:',
    '        name: "{{ rpm_url }}"',
    '    - ansible.builtin.get_url:',
    '        url: "{{ playbook_dir }}/files/x.tgz"', // 15
    '        dest: /tmp/x.tgz',
    '',
  ].join('\n'),
  // Recall: include_vars candidates.
  'loops/play.yml': [
    '- hosts: all', // 1
    '  tasks:',
    '    - include_vars: "{{ item }}"',
    '      loop:',
    '        - ../common/vars/a.yml', // 5
    '    - include_vars: "{{ item }}"',
    '      with_first_found:',
    '        - files: ["{{ ansible_facts.os_family }}.yml", default.yml]',
    '          paths: [../common/vars]',
    '    - include_vars: "{{ lookup(\'first_found\', params) }}"', // 10
    '      vars:',
    '        params:',
    '          files: [extra.yml]',
    '          paths: [../common/vars]',
    '    - include_vars:', // 15
    '        file: ../common/vars/named.yml',
    '        name: cfg',
    '    - ansible.builtin.get_url:',
    '        url: "{{ loop_mirror }}/a.tgz"',
    '        dest: /tmp/a.tgz', // 20
    '    - ansible.builtin.get_url:',
    '        url: "{{ os_mirror }}/b.tgz"',
    '        dest: /tmp/b.tgz',
    '    - ansible.builtin.get_url:',
    '        url: "{{ extra_mirror }}/c.tgz"', // 25
    '        dest: /tmp/c.tgz',
    '    - ansible.builtin.get_url:',
    '        url: "{{ cfg.mirror }}/d.tgz"',
    '        dest: /tmp/d.tgz',
    '',
  ].join('\n'),
  // Outside the playbook's directory and its vars/ (what an include_vars name as written is looked up in).
  'common/vars/a.yml': 'loop_mirror: https://loop.vendor.io\n',
  'common/vars/Debian.yml': 'os_mirror: https://debian-os.vendor.io\n',
  'common/vars/default.yml': 'os_mirror: https://default-os.vendor.io\n',
  'common/vars/extra.yml': 'extra_mirror: https://extra.vendor.io\n',
  'common/vars/named.yml': 'mirror: https://named.vendor.io\n',
  // A nested role (`roles/<group>/<name>`): its defaults apply to its tasks.
  'nested/roles/engines/app/defaults/main.yml': 'app_url: https://nested.vendor.io/app.tgz\n',
  'nested/roles/engines/app/tasks/main.yml': ['- ansible.builtin.get_url:', '    url: "{{ app_url }}"', '    dest: /tmp/app.tgz', ''].join('\n'),
  // Recall: a container image or a git remote whose host is a template, outside Ansible.
  'k8s/deploy.yaml': [
    'apiVersion: apps/v1', // 1
    'kind: Deployment',
    'metadata: { name: a }',
    'spec:',
    '  template:', // 5
    '    spec:',
    '      containers:',
    '        - name: a',
    '          image: "{{ image_ref }}"',
    '        - name: b', // 10
    '          image: $IMAGE',
    '        - name: c',
    '          image: "{{ registry }}/app:1.0"',
    '        - name: d',
    '          image: nginx:{{ tag }}', // 15
    '',
  ].join('\n'),
  'scripts/get.sh': ['#!/bin/sh', 'git clone git@{{ git_host }}:org/x', 'git clone "git@${GIT_HOST}:org/y.git" /src/y', ''].join('\n'),
};

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';
const repo = auditedRepo('ferry-recall6-', FILES, MANIFEST, NESTED_SITE_TARGET);

describe('recall6: an Ansible argument that is no destination by its module is no finding', () => {
  it('a variable whose value is a path under a magic path variable (inventory_dir, ansible_env.HOME) is none', () => {
    // Old code: url {{ inventory_dir }}/credentials, host unknown.
    expect(repo.at('repo/site/group_vars/all.yml', 1)).toEqual([]);
    // Old code: url {{ ansible_env.HOME }}/kube-manifests, host unknown.
    expect(repo.at('repo/site/group_vars/all.yml', 3)).toEqual([]);
  });

  it("unarchive without remote_src copies src from the controller: no finding; with remote_src an unknown src stays unknown", () => {
    // Old code: url {{ download.dest }}, host unknown.
    expect(repo.at('repo/site/play.yml', 4)).toEqual([]);
    expect(repo.one('repo/site/play.yml', 7)).toMatchObject({ kind: 'url', value: '{{ archive_src }}', host: 'unknown' });
  });

  it('a package name left unknown is none; a dnf name that resolves to a URL is that URL', () => {
    // Old code: url {{ item.packages }}, host unknown.
    expect(repo.at('repo/site/play.yml', 11)).toEqual([]);
    expect(repo.one('repo/site/play.yml', 13)).toMatchObject({ kind: 'url', value: 'https://rpms.vendor.io/tool.rpm', host: 'rpms.vendor.io' });
  });

  it('a get_url url under playbook_dir is a local path: none', () => {
    // Old code: url {{ playbook_dir }}/files/x.tgz, host unknown.
    expect(repo.at('repo/site/play.yml', 15)).toEqual([]);
  });
});

describe('recall6: include_vars candidates, a name, nested roles', () => {
  it.each([
    [19, ['loop.vendor.io'], 'a loop item'],
    [22, ['debian-os.vendor.io', 'default-os.vendor.io'], 'with_first_found files under paths'],
    [25, ['extra.vendor.io'], "lookup('first_found', params) with params in the task's vars"],
    [28, ['named.vendor.io'], 'a file loaded under name: cfg, read as cfg.<key>'],
  ])('loops/play.yml:%i: resolved from each candidate (%s: %s)', (line, hosts) => {
    // Old code: host unknown (the loop's files were not read; `name:` was skipped; cfg.mirror not evaluated).
    expect(repo.at('repo/loops/play.yml', line).map((f) => f.host).sort()).toEqual(hosts);
  });

  it("a nested role's defaults (roles/<group>/<name>) fill in its tasks", () => {
    // Old code: {{ app_url }} set in no role defaults (the role was taken as roles/engines).
    expect(repo.one('repo/nested/roles/engines/app/tasks/main.yml', 2)).toMatchObject({ value: 'https://nested.vendor.io/app.tgz', host: 'nested.vendor.io' });
  });
});

describe('recall6: a container image or a git remote whose host is a template is a finding, host unknown', () => {
  it.each([
    [9, '{{ image_ref }}'],
    [11, '$IMAGE'],
    [13, '{{ registry }}/app:1.0'],
  ])('deploy.yaml:%i: image %s, host unknown, the note naming the template', (line, value) => {
    // Old code: no finding at all.
    const f = repo.one('repo/k8s/deploy.yaml', line);
    expect(f).toMatchObject({ kind: 'image', value, host: 'unknown', class: 'undeclared' });
    expect(f.note).toContain('a template or variable filled in where the file is used');
  });

  it('an image whose tag only is a template is pulled from its registry (Docker Hub)', () => {
    // Old code: no finding.
    expect(repo.one('repo/k8s/deploy.yaml', 15)).toMatchObject({ kind: 'image', value: 'nginx:{{ tag }}', host: 'docker.io' });
  });

  it.each([
    [2, 'git@{{ git_host }}:org/x'],
    [3, 'git@${GIT_HOST}:org/y.git'],
  ])('get.sh:%i: the scp-like remote %s, host unknown', (line, value) => {
    // Old code: no finding.
    expect(repo.one('repo/scripts/get.sh', line)).toMatchObject({ kind: 'url', value, host: 'unknown' });
  });
});
