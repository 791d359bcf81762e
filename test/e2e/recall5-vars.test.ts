import { describe, expect, it } from 'vitest';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

/**
 * recall5: a destination whose host is still a template or variable is unknown, whatever the
 * finding kind; a Terraform variable that may take several values (a default, a TF_VAR_ in CI, a
 * -var-file candidate, a command line's -var or -var-file) is one finding per value, each named
 * with where it is set, unknown only where the value itself is.
 */
const FILES: Record<string, string> = {
  'ansible/site.yml': [
    '- hosts: all', // 1
    '  tasks:',
    '    - ansible.builtin.git:',
    '        repo: "{{ git_base }}/app.git"',
    '        dest: /opt/app', // 5
    '    - git:',
    '        repo: "{{ repo }}"',
    '    - community.docker.docker_image:',
    '        name: "{{ reg }}/app"',
    '    - ansible.builtin.apt_repository:', // 10
    '        repo: "deb {{ mirror }}/debian bookworm main"',
    '',
  ].join('\n'),
  'etc/apt/sources.list.d/vendor.list': 'deb http://{{ apt_host }}/debian bookworm main\n',
  'infra/main.tf': [
    'variable "registry_host" {', // 1
    '  default = "registry.default.vendor.io"',
    '}',
    'variable "api_host" {',
    '  default = "api.default.vendor.io"', // 5
    '}',
    'variable "dns_servers" {',
    '  default = []',
    '}',
    'data "http" "registry" {', // 10
    '  url = "https://${var.registry_host}/v2/"',
    '}',
    'data "http" "api" {',
    '  url = "https://${var.api_host}/v1"',
    '}', // 15
    'resource "x_server" "a" {',
    '  dns_servers = var.dns_servers',
    '}',
    '',
  ].join('\n'),
  'envs/prod.tfvars': 'api_host = "api.prod.vendor.io"\n',
  '.gitlab-ci.yml': [
    'plan:',
    '  variables:',
    '    TF_VAR_registry_host: $CI_REGISTRY',
    '  script:',
    "    - terraform -chdir=infra plan -var 'registry_host=registry.cli.vendor.io' -var-file=../envs/prod.tfvars", // 5
    '',
  ].join('\n'),
};

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';
const repo = auditedRepo('ferry-recall5-', FILES, MANIFEST, NESTED_SITE_TARGET);

describe('recall5: a host still holding a template is unknown, for every finding kind', () => {
  it.each([
    [4, 'url', '{{ git_base }}/app.git'],
    [7, 'url', '{{ repo }}'],
    [9, 'image', '{{ reg }}/app'],
    [11, 'apt', '{{ mirror }}/debian'],
  ])('site.yml:%i: a %s, %s, has host unknown, the note naming the template', (line, kind, value) => {
    // Old code: host was the text as written ({{ git_base }}/app.git, {{ repo }}, {{ reg }}, and `{{` for the APT line cut at its spaces).
    const f = repo.one('repo/ansible/site.yml', line);
    expect(f).toMatchObject({ kind, value, host: 'unknown', class: 'undeclared' });
    expect(f.note).toContain('is set in no role defaults/vars');
    expect(f.note).toContain('a template or variable filled in where the file is used');
  });

  it('an APT list line with a template in its host is unknown, the URI kept whole', () => {
    // Old code: value http://{{, host {{.
    expect(repo.one('repo/etc/apt/sources.list.d/vendor.list', 1)).toMatchObject({ kind: 'apt', value: 'http://{{ apt_host }}/debian', host: 'unknown' });
  });

  it('a Terraform variable that is no string, given to a destination attribute, is unknown', () => {
    // Old code: host ${var.dns_servers}.
    expect(repo.one('repo/infra/main.tf', 17)).toMatchObject({ value: '${var.dns_servers}', host: 'unknown' });
  });
});

describe('recall5: Terraform, one finding per value', () => {
  it('a default, a TF_VAR_ from the CI (unknown) and a command line -var: one finding each, the unknown one only unknown', () => {
    // Old code: one finding, host unknown, all three named in its note.
    const f = repo.at('repo/infra/main.tf', 11);
    expect(f.map((x) => x.host).sort()).toEqual(['registry.cli.vendor.io', 'registry.default.vendor.io', 'unknown']);
    expect(f.find((x) => x.host === 'registry.default.vendor.io')!.note).toContain('${var.registry_host}=registry.default.vendor.io (repo/infra/main.tf:2 default, one of 3 values');
    expect(f.find((x) => x.host === 'registry.cli.vendor.io')!.note).toContain('(repo/.gitlab-ci.yml:5 terraform -var registry_host (a run-time value), one of 3 values');
    const unknown = f.find((x) => x.host === 'unknown')!;
    expect(unknown.value).toBe('https://${var.registry_host}/v2/');
    expect(unknown.note).toContain('repo/.gitlab-ci.yml:3 TF_VAR_registry_host (a run-time value from the shell or CI, unknown)');
  });

  it('a -var-file named on a command line, outside the module, is one more value, named with the line that names it', () => {
    // Old code: the file outside the module directory was never read: the default only, known.
    const f = repo.at('repo/infra/main.tf', 14);
    expect(f.map((x) => x.host).sort()).toEqual(['api.default.vendor.io', 'api.prod.vendor.io']);
    expect(f.find((x) => x.host === 'api.prod.vendor.io')!.note).toContain('${var.api_host}=api.prod.vendor.io (repo/envs/prod.tfvars:1 (-var-file at repo/.gitlab-ci.yml:5, a run-time value), one of 2 values');
  });
});
