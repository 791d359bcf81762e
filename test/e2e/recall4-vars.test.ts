import { describe, expect, it } from 'vitest';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

/**
 * recall4: an Ansible task's `{{ var }}` whose value differs by group, host, include_vars file or
 * run (`ansible-playbook -e` in a script next to it), a `| default('…')`, and Terraform's
 * `TF_VAR_<name>` in a CI file: each value a destination may take is reported, named with where
 * it is set; a value the scan cannot know stays unknown.
 */
const FILES: Record<string, string> = {
  'ansible/group_vars/all.yml': 'app_registry: registry.site.internal/apps\n',
  'ansible/group_vars/prod.yml': 'pkg_mirror: https://pkgs.prod.vendor.io\n',
  'ansible/group_vars/staging/main.yml': 'pkg_mirror: https://pkgs.staging.vendor.io\n',
  'ansible/site.yml': [
    '- hosts: all', // 1
    '  roles:',
    '    - docker',
    '  tasks:',
    '    - ansible.builtin.get_url:', // 5
    '        url: "{{ pkg_mirror }}/agent.tgz"',
    '        dest: /opt/agent.tgz',
    '    - ansible.builtin.uri:',
    "        url: \"{{ telemetry_url | default('https://telemetry.vendor.io') }}/v1\"",
    '    - community.docker.docker_image:', // 10
    '        name: "{{ app_registry }}/app"',
    '        tag: "1.0"',
    '    - ansible.builtin.include_vars: vars/charts.yml',
    '    - kubernetes.core.helm_repository:',
    '        name: vendor', // 15
    '        repo_url: "{{ chart_repo }}"',
    '    - ansible.builtin.git:',
    '        repo: "{{ git_base }}/app.git"',
    '        dest: /opt/app',
    '    - ansible.builtin.get_url:', // 20
    '        url: "https://{{ shard_host }}/{{ shard_path }}"',
    '        dest: /opt/shard',
    '',
  ].join('\n'),
  // Five groups, each its own host and path: 25 ways, more than one string is reported for.
  ...Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`ansible/group_vars/shard${i}.yml`, `shard_host: s${i}.vendor.io\nshard_path: p${i}\n`])),
  'ansible/vars/charts.yml': 'chart_repo: https://charts.vendor.io/stable\n',
  'ansible/roles/docker/defaults/main.yml': 'docker_apt_host: download.default.vendor.io\n',
  'ansible/roles/docker/vars/main.yml': 'docker_apt_host: download.docker.com\n',
  'ansible/roles/docker/vars/Debian.yml': 'docker_yum_url: ""\n',
  'ansible/roles/docker/vars/RedHat.yml': 'docker_yum_url: https://download.docker.com/linux/centos/$releasever/stable\n',
  'ansible/roles/docker/tasks/main.yml': [
    '- ansible.builtin.include_vars: "{{ ansible_os_family }}.yml"', // 1
    '- ansible.builtin.apt_repository:',
    '    repo: "deb https://{{ docker_apt_host }}/linux/debian bookworm stable"',
    '- ansible.builtin.yum_repository:',
    '    name: docker', // 5
    '    baseurl: "{{ docker_yum_url }}"',
    '',
  ].join('\n'),
  // Run from the repository's scripts/: a run-time value for the playbooks next to it.
  'ansible/scripts/deploy.sh': ['#!/bin/sh', 'ansible-playbook -i inventory site.yml \\', '  -e "app_registry=registry.vendor.io/apps" --extra-vars git_base=$GIT_BASE', ''].join('\n'),
  // Terraform: a default, a TF_VAR_ in the CI file, and one terraform.tfvars overrides.
  'infra/main.tf': [
    'variable "registry_host" {', // 1
    '  default = "registry.site.internal"',
    '}',
    'variable "state_host" {}',
    'variable "api_host" {', // 5
    '  default = "api.default.vendor.io"',
    '}',
    'data "http" "registry" {',
    '  url = "https://${var.registry_host}/v2/"',
    '}', // 10
    'data "http" "state" {',
    '  url = "https://${var.state_host}/state"',
    '}',
    'data "http" "api" {',
    '  url = "https://${var.api_host}/v1"', // 15
    '}',
    '',
  ].join('\n'),
  'infra/terraform.tfvars': 'api_host = "api.tfvars.vendor.io"\n',
  '.gitlab-ci.yml': ['plan:', '  variables:', '    TF_VAR_registry_host: registry.vendor.io', '    TF_VAR_api_host: api.ci.vendor.io', '  script: [terraform -chdir=infra plan]', ''].join('\n'),
  '.github/workflows/apply.yml': ['on: push', 'jobs:', '  apply:', '    runs-on: ubuntu-latest', '    env:', '      TF_VAR_state_host: state.vendor.io', '    steps:', '      - run: terraform -chdir=infra apply', ''].join('\n'),
};

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';
const TARGET = `${NESTED_SITE_TARGET}files:\n  dir: /srv/mirror/files\n  baseUrl: https://files.site.internal\n`;

const repo = auditedRepo('ferry-recall4-', FILES, MANIFEST, TARGET);
const values = (file: string, line: number) => repo.at(file, line).map((f) => f.value);

describe('recall4: Ansible variables from group_vars, role vars, include_vars, defaults and -e', () => {
  it('a variable set per group is one finding per group value, each naming its group file', () => {
    // Old code: one finding "{{ pkg_mirror }}/agent.tgz", host unknown.
    const f = repo.at('repo/ansible/site.yml', 6);
    expect(f.map((x) => x.value).sort()).toEqual(['https://pkgs.prod.vendor.io/agent.tgz', 'https://pkgs.staging.vendor.io/agent.tgz']);
    expect(f.find((x) => x.value.includes('prod'))!.note).toContain('{{ pkg_mirror }}=https://pkgs.prod.vendor.io (repo/ansible/group_vars/prod.yml:1, one of 2 values');
    expect(f.find((x) => x.value.includes('staging'))!.note).toContain('repo/ansible/group_vars/staging/main.yml:1');
  });

  it("a | default('…') of a variable set nowhere is its default, said so", () => {
    // Old code: an expression the scan does not evaluate, unknown.
    const f = repo.one('repo/ansible/site.yml', 9);
    expect(f).toMatchObject({ kind: 'url', value: 'https://telemetry.vendor.io/v1', host: 'telemetry.vendor.io' });
    expect(f.note).toContain('its default, telemetry_url is set nowhere in the scan');
  });

  it('an ansible-playbook -e in a script next to the playbook is one more, run-time, value over group_vars/all', () => {
    // Old code: only group_vars/all's value, registry.site.internal/apps/app:1.0.
    expect(values('repo/ansible/site.yml', 11).sort()).toEqual(['registry.site.internal/apps/app:1.0', 'registry.vendor.io/apps/app:1.0']);
    const run = repo.at('repo/ansible/site.yml', 11).find((x) => x.value.startsWith('registry.vendor.io'))!;
    expect(run.note).toContain('repo/ansible/scripts/deploy.sh:2 ansible-playbook --extra-vars (a run-time value)');
    // A value the shell fills in is unknown, named with where it is set.
    const git = repo.one('repo/ansible/site.yml', 18);
    expect(git.value).toBe('{{ git_base }}/app.git');
    expect(git.note).toContain('repo/ansible/scripts/deploy.sh:2 ansible-playbook --extra-vars (a run-time value from the shell or CI, unknown)');
  });

  it("a play's include_vars file sets the variable it loads", () => {
    // Old code: set nowhere, unknown.
    const f = repo.one('repo/ansible/site.yml', 16);
    expect(f).toMatchObject({ kind: 'url', value: 'https://charts.vendor.io/stable', host: 'charts.vendor.io' });
    expect(f.note).toContain('repo/ansible/vars/charts.yml:1');
  });

  it("a role's vars/main.yml overrides its defaults; its other vars files are candidates for the hosts that include them", () => {
    expect(repo.one('repo/ansible/roles/docker/tasks/main.yml', 3)).toMatchObject({ kind: 'apt', value: 'https://download.docker.com/linux/debian', host: 'download.docker.com' });
    // Old code: Debian.yml and RedHat.yml read as vars/main.yml, two values for every host: unknown.
    const yum = repo.one('repo/ansible/roles/docker/tasks/main.yml', 6);
    expect(yum).toMatchObject({ kind: 'url', value: 'https://download.docker.com/linux/centos/$releasever/stable', host: 'download.docker.com' });
    expect(yum.note).toContain('repo/ansible/roles/docker/vars/RedHat.yml:1');
  });
});

describe('recall4: bounded', () => {
  it('past 16 combined values the variable that would exceed them stays as written, unknown, named with its values', () => {
    // Each host of the first variable is still a finding (the hosts are the destinations); the path is unknown.
    const f = repo.at('repo/ansible/site.yml', 21);
    expect(f.map((x) => [x.value, x.host])).toEqual(Array.from({ length: 5 }, (_, i) => [`https://s${i}.vendor.io/{{ shard_path }}`, `s${i}.vendor.io`]));
    for (const x of f) expect(x.note).toContain('{{ shard_path }} takes 5 values (p0, p1, p2, p3, p4): with the other variables of https://{{ shard_host }}/{{ shard_path }}, more than 16 ways, not each reported');
  });
});

describe('recall4: Terraform TF_VAR_ in a CI file next to the module', () => {
  it('a TF_VAR_ over a default is a run-time candidate: one finding per value, each named (recall5)', () => {
    // Old code: the default only, registry.site.internal, known; then (recall4) one unknown finding.
    const f = repo.at('repo/infra/main.tf', 9);
    expect(f.map((x) => x.host).sort()).toEqual(['registry.site.internal', 'registry.vendor.io']);
    expect(f.find((x) => x.host === 'registry.vendor.io')!.note).toContain('${var.registry_host}=registry.vendor.io (repo/.gitlab-ci.yml:3 TF_VAR_registry_host (a run-time value), one of 2 values');
    expect(f.find((x) => x.host === 'registry.site.internal')!.note).toContain('(repo/infra/main.tf:2 default, one of 2 values');
  });

  it("a variable only a workflow's env sets is that value, named", () => {
    // Old code: set nowhere, unknown.
    const f = repo.one('repo/infra/main.tf', 12);
    expect(f).toMatchObject({ value: 'https://state.vendor.io/state', host: 'state.vendor.io' });
    expect(f.note).toContain('repo/.github/workflows/apply.yml:6 TF_VAR_state_host');
  });

  it('terraform.tfvars overrides TF_VAR_ (the environment is read first)', () => {
    const f = repo.one('repo/infra/main.tf', 15);
    expect(f).toMatchObject({ value: 'https://api.tfvars.vendor.io/v1', host: 'api.tfvars.vendor.io' });
  });
});
