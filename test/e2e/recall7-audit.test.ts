import { describe, expect, it } from 'vitest';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

/**
 * recall7: values from elsewhere. Ansible map variables read by key (`{{ registry.host }}`,
 * `{{ images['nginx'].repo }}`), an image whose tag only is unknown, a role's include_vars of a file
 * the tree does not hold; Terraform's -var-file naming a .tfvars.json outside the module or a file
 * a shell variable names; Compose env_file values interpolated from the project's .env, and
 * `format: raw` ones passed as written.
 */
const FILES: Record<string, string> = {
  'ans/group_vars/all.yml': ['registry:', '  host: reg.vendor.io', '  port: 5000', 'images:', '  nginx:', '    repo: mirror.vendor.io/nginx', '    tag: "1.25"', "tag: \"{{ lookup('env', 'TAG') }}\"", ''].join('\n'),
  'ans/site.yml': [
    '- hosts: all', // 1
    '  roles: [web]',
    '  tasks:',
    '    - community.docker.docker_container:',
    '        name: a', // 5
    '        image: "{{ registry.host }}/app:1.0"',
    '    - community.docker.docker_container:',
    '        name: b',
    '        image: "{{ images[\'nginx\'].repo }}:{{ images.nginx.tag }}"',
    '    - community.docker.docker_container:', // 10
    '        name: c',
    '        image: "nginx:{{ tag }}"',
    '    - ansible.builtin.get_url:',
    '        url: "https://{{ registry.host }}:{{ registry.port }}/v2/"',
    '        dest: /tmp/x', // 15
    '    - ansible.builtin.get_url:',
    '        url: "https://{{ registry.missing }}/x"',
    '        dest: /tmp/y',
    '',
  ].join('\n'),
  'ans/roles/web/defaults/main.yml': 'web_mirror: https://default.vendor.io\n',
  'ans/roles/web/tasks/main.yml': ['- include_vars: missing.yml', '- ansible.builtin.get_url:', '    url: "{{ web_mirror }}/a.tgz"', '    dest: /tmp/a', ''].join('\n'),
  // A -var-file of JSON outside the module (-chdir), and one a shell variable names.
  'tf/main.tf': ['variable "registry" {}', 'resource "kubernetes_deployment" "a" {', '  spec { template { spec { container { image = "${var.registry}/app:1" } } } }', '}', ''].join('\n'),
  'envs/prod.tfvars.json': '{ "registry": "json.vendor.io" }\n',
  'scripts/tf.sh': '#!/bin/sh\nterraform -chdir=tf apply -var-file=../envs/prod.tfvars.json\n',
  'tf2/main.tf': ['variable "registry" { default = "def.vendor.io" }', 'resource "kubernetes_deployment" "a" {', '  spec { template { spec { container { image = "${var.registry}/app:1" } } } }', '}', ''].join('\n'),
  'scripts/tf2.sh': '#!/bin/sh\nterraform -chdir=tf2 apply -var-file=$VARS_FILE\n',
  // Compose env_file: interpolated from the project's .env, unless format: raw.
  'compose/interp/compose.yaml': 'services:\n  a:\n    image: busybox\n    env_file: app.env\n',
  'compose/interp/app.env': "API_URL=https://${API_HOST}/v1\nLITERAL='https://${API_HOST}/x'\n",
  'compose/interp/.env': 'API_HOST=interp.vendor.io\n',
  'compose/raw/compose.yaml': 'services:\n  a:\n    image: busybox\n    env_file:\n      - path: raw.env\n        format: raw\n',
  'compose/raw/raw.env': 'API_URL="https://${API_HOST}/v1"\n',
  'compose/raw/.env': 'API_HOST=raw.vendor.io\n',
};

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';
const repo = auditedRepo('ferry-recall7-', FILES, MANIFEST, NESTED_SITE_TARGET);

describe('recall7: Ansible map variables, a tag unknown, a role include_vars not in the tree', () => {
  it.each([
    [6, 'image', 'reg.vendor.io/app:1.0', 'reg.vendor.io'],
    [9, 'image', 'mirror.vendor.io/nginx:1.25', 'mirror.vendor.io'],
    [14, 'url', 'https://reg.vendor.io:5000/v2/', 'reg.vendor.io'],
  ])('site.yml:%i: a key of a group_vars map filled in (%s %s)', (line, kind, value, host) => {
    // Old code: host unknown, "an expression the scan does not evaluate".
    const f = repo.one('repo/ans/site.yml', line);
    expect(f).toMatchObject({ kind, value, host });
    expect(f.note).toContain('repo/ans/group_vars/all.yml:');
  });

  it('a key the map does not hold stays unknown, the map named', () => {
    const f = repo.one('repo/ans/site.yml', 17);
    expect(f).toMatchObject({ host: 'unknown' });
    expect(f.note).toContain('no key missing in the map set there');
  });

  it('nginx:{{ tag }} with the tag unknown: Docker Hub, the note saying the tag is what is unknown', () => {
    const f = repo.one('repo/ans/site.yml', 12);
    expect(f).toMatchObject({ kind: 'image', host: 'docker.io' });
    // Old code: "what it fetches is unknown until that is set".
    expect(f.note).toContain('its registry is written out; which image or tag it pulls is unknown');
  });

  it("a role's include_vars of a file the tree does not hold makes its variables unknown, naming it", () => {
    // Old code: https://default.vendor.io/a.tgz from the role defaults, the include_vars ignored.
    const f = repo.one('repo/ans/roles/web/tasks/main.yml', 3);
    expect(f).toMatchObject({ host: 'unknown' });
    expect(f.note).toContain('the include_vars missing.yml (repo/ans/roles/web/tasks/main.yml:1) names no YAML file of the scan and may set it');
  });
});

describe('recall7: Terraform -var-file', () => {
  it('a .tfvars.json a script names with -var-file, outside the module: its value applies', () => {
    // Old code: host unknown (${var.registry} set in no default or *.tfvars of tf).
    const f = repo.one('repo/tf/main.tf', 3);
    expect(f).toMatchObject({ kind: 'image', value: 'json.vendor.io/app:1', host: 'json.vendor.io' });
    expect(f.note).toContain('repo/envs/prod.tfvars.json:1 (-var-file at repo/scripts/tf.sh:2');
  });

  it('-var-file=$VARS_FILE: one more way, unknown, naming the variable', () => {
    // Old code: only def.vendor.io (the default), the unknown file not named.
    const list = repo.at('repo/tf2/main.tf', 3);
    expect(list.map((f) => f.host).sort()).toEqual(['def.vendor.io', 'unknown']);
    const unknown = list.find((f) => f.host === 'unknown')!;
    expect(unknown.note).toContain('may be set by a -var-file the shell or CI names, unknown here (repo/scripts/tf2.sh:2 -var-file=$VARS_FILE)');
    expect(repo.findings.some((f) => f.value.includes('VARS_FILE'))).toBe(false);
  });
});

describe('recall7: Compose env_file values', () => {
  it("an env_file value is interpolated from the project's .env", () => {
    // Old code: https://${API_HOST}/v1, host unknown.
    const f = repo.one('repo/compose/interp/app.env', 1);
    expect(f).toMatchObject({ kind: 'url', value: 'https://interp.vendor.io/v1', host: 'interp.vendor.io' });
    expect(f.note).toContain('which Compose interpolates to https://interp.vendor.io/v1 (repo/compose/interp/.env)');
  });

  it('a single-quoted value is taken as written', () => {
    expect(repo.one('repo/compose/interp/app.env', 2)).toMatchObject({ host: 'unknown' });
  });

  it('format: raw: passed as written, nothing filled in, said so', () => {
    const f = repo.one('repo/compose/raw/raw.env', 1);
    expect(f).toMatchObject({ host: 'unknown' });
    // Old code: the note said only that the variable is filled in where the file is used.
    expect(f.note).toContain('format: raw, so Compose passes its values as written');
  });
});
