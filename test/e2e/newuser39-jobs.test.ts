import { rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { auditedRepo, auditRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

/**
 * A site repository holding Ansible and Terraform together, audited before the move behind the
 * gap (new-user round 39): what rounds 37 and 38 left unread. Checked against the Ansible docs
 * (variable precedence list; the ini and yaml inventory plugins; the galaxy client's
 * server_list / [galaxy_server.x] url and a collection's `source` naming a server) and the
 * Terraform docs (implied provider requirements: a resource type's first word with no
 * required_providers entry is hashicorp/<name>; terraform.tfvars.json / *.auto.tfvars loaded
 * automatically; a module block's arguments set the child's variables; templatefile).
 */
const FILES: Record<string, string> = {
  'ansible/ansible.cfg': `[defaults]
inventory = inventory/hosts.ini

[galaxy]
server_list = site_hub, release_galaxy

[galaxy_server.site_hub]
url = https://files.site.internal/galaxy/

[galaxy_server.release_galaxy]
url = https://galaxy.ansible.com/
`,
  'ansible/collections/requirements.yml': `collections:
  - name: community.general
  - name: acme.internal
    source: site_hub
`,
  'ansible/inventory/hosts.ini': `[web]
web1 ansible_host=10.0.0.5 node_exporter_mirror=https://files.site.internal/node-exporter

[all:vars]
tools_mirror=https://files.site.internal/tools
`,
  'ansible/inventory/group_vars/all.yml': `app_registry: registry.site.internal/apps
`,
  'ansible/inventory/group_vars/db.yml': `app_registry: quay.io/acme
`,
  'ansible/roles/base/defaults/main.yml': `repo_host: https://download.vendor.example.com
`,
  'ansible/group_vars/all.yml': `repo_host: https://files.site.internal/vendor
`,
  'ansible/roles/base/tasks/main.yml': `- name: vendor package
  ansible.builtin.package:
    name: "{{ repo_host }}/agent-1.0.rpm"
- name: helper
  ansible.builtin.shell: curl -fsSL {{ tools_mirror }}/install.sh | sh
- name: image
  community.docker.docker_container:
    name: app
    image: "{{ app_registry }}/app:1.0"
`,
  'ansible/vars/common.yml': `helm_base: https://files.site.internal/helm
`,
  'ansible/site.yml': `- hosts: all
  vars:
    yq_version: 4.44.1
  vars_files:
    - vars/common.yml
  roles:
    - base
  tasks:
    - name: yq
      ansible.builtin.get_url:
        url: "https://github.com/mikefarah/yq/releases/download/v{{ yq_version }}/yq_linux_amd64"
        dest: /usr/local/bin/yq
    - set_fact:
        helm_url: "{{ helm_base }}/helm-v3.15.0.tgz"
    - name: helm
      ansible.builtin.unarchive:
        src: "{{ helm_url }}"
        dest: /opt
        remote_src: true
    - name: rpm
      ansible.builtin.dnf:
        name: https://rpm.vendor.example.com/el9/tool.rpm
`,
  'infra/main.tf': `module "app" {
  source   = "./modules/app"
  registry = var.registry
}

resource "aws_instance" "web" {
  ami       = "ami-123"
  user_data = templatefile("\${path.module}/templates/init.sh.tftpl", { mirror = var.mirror, version = "3.15.0" })
}

provider "aws" {
  region = "eu-north-1"
  endpoints {
    s3 = "https://s3.vendor.example.com"
  }
}

provider "kubernetes" {
  host = var.cluster_host
}
`,
  'infra/variables.tf': `variable "registry" {}
variable "mirror" {}
variable "cluster_host" {}
`,
  'infra/terraform.tfvars.json': `{
  "registry": "registry.site.internal/apps",
  "mirror": "https://files.site.internal/tools"
}
`,
  'infra/prod.auto.tfvars': `cluster_host = "https://k8s.vendor.example.com:6443"
`,
  'infra/templates/init.sh.tftpl': `#!/bin/sh
curl -fsSL \${mirror}/helm-v\${version}.tar.gz -o /tmp/helm.tgz
`,
  'infra/modules/app/main.tf': `variable "registry" {
  default = "docker.io/acme"
}
resource "kubernetes_deployment" "app" {
  spec {
    template {
      spec {
        container {
          image = "\${var.registry}/app:2.0"
        }
      }
    }
  }
}
`,
};
const MANIFEST = `apiVersion: ferry/v1alpha1
kind: Manifest
metadata: { name: site }
`;
const TARGET = `${NESTED_SITE_TARGET}files:
  dir: /srv/mirror/files
  baseUrl: https://files.site.internal
`;

describe('new user 39: an Ansible + Terraform repository audited', () => {
  const repo = auditedRepo('ferry-nu39-', FILES, MANIFEST, TARGET);
  const { at, one } = repo;
  it('Ansible: inventory INI vars, play vars, vars_files and set_fact fill in a task; precedence picks the group_vars/all value over a role default', () => {
    // [all:vars] of the INI inventory, in a shell command.
    expect(one('repo/ansible/roles/base/tasks/main.yml', 5)).toMatchObject({ kind: 'url', value: 'https://files.site.internal/tools/install.sh', class: 'internal' });
    // group_vars/all overrides the role default for every host: one value, not "set to 2 values".
    const pkg = one('repo/ansible/roles/base/tasks/main.yml', 3);
    expect(pkg).toMatchObject({ kind: 'url', value: 'https://files.site.internal/vendor/agent-1.0.rpm', class: 'internal' });
    expect(pkg.provenance).toContain('ansible.builtin.package name');
    expect(one('repo/ansible/site.yml', 11).value).toBe('https://github.com/mikefarah/yq/releases/download/v4.44.1/yq_linux_amd64');
    const helm = one('repo/ansible/site.yml', 17);
    expect(helm).toMatchObject({ value: 'https://files.site.internal/helm/helm-v3.15.0.tgz', class: 'internal' });
    expect(helm.provenance).toContain('set_fact');
    expect(helm.provenance).toContain('repo/ansible/vars/common.yml:1');
    expect(one('repo/ansible/site.yml', 22)).toMatchObject({ kind: 'url', value: 'https://rpm.vendor.example.com/el9/tool.rpm', class: 'undeclared' });
  });
  it('Ansible: a value that differs by group is one finding per value (recall4), each naming its group file', () => {
    const imgs = at('repo/ansible/roles/base/tasks/main.yml', 9);
    expect(imgs.map((f) => [f.kind, f.value, f.class])).toEqual([
      ['image', 'quay.io/acme/app:1.0', 'undeclared'],
      ['image', 'registry.site.internal/apps/app:1.0', 'internal'],
    ]);
    expect(imgs[0].provenance).toContain('{{ app_registry }}=quay.io/acme (repo/ansible/inventory/group_vars/db.yml:1, one of 2 values');
    expect(imgs[1].provenance).toContain('{{ app_registry }}=registry.site.internal/apps (repo/ansible/inventory/group_vars/all.yml:1, one of 2 values');
  });
  it("Ansible: a collection with no source comes from ansible.cfg's server_list, one by server name from that server", () => {
    const noSource = at('repo/ansible/collections/requirements.yml', 2);
    expect(noSource.map((f) => [f.value, f.class])).toEqual([
      ['https://files.site.internal/galaxy/', 'internal'],
      ['https://galaxy.ansible.com/', 'undeclared'],
    ]);
    expect(one('repo/ansible/collections/requirements.yml', 4)).toMatchObject({ kind: 'url', value: 'https://files.site.internal/galaxy/', class: 'internal' });
  });
  it('Terraform: implied providers, a ref-valued provider host, *.auto.tfvars and terraform.tfvars.json', () => {
    const aws = one('repo/infra/main.tf', 6);
    expect(aws).toMatchObject({ kind: 'host', value: 'registry.terraform.io', class: 'undeclared' });
    expect(aws.provenance).toContain('registry.terraform.io/hashicorp/aws');
    expect(one('repo/infra/main.tf', 18).provenance).toContain('registry.terraform.io/hashicorp/kubernetes');
    expect(one('repo/infra/modules/app/main.tf', 4).provenance).toContain('hashicorp/kubernetes');
    expect(one('repo/infra/main.tf', 14)).toMatchObject({ kind: 'url', value: 'https://s3.vendor.example.com', class: 'undeclared' });
    expect(one('repo/infra/main.tf', 19)).toMatchObject({ kind: 'url', value: 'https://k8s.vendor.example.com:6443', class: 'undeclared' });
  });
  it("Terraform: a child module's variable takes its caller's argument; templatefile renders the template with its map", () => {
    const img = one('repo/infra/modules/app/main.tf', 9);
    expect(img).toMatchObject({ kind: 'image', value: 'registry.site.internal/apps/app:2.0', class: 'internal' });
    expect(img.provenance).toContain('module "app" argument');
    const tpl = one('repo/infra/templates/init.sh.tftpl', 2);
    expect(tpl).toMatchObject({ kind: 'url', value: 'https://files.site.internal/tools/helm-v3.15.0.tar.gz', class: 'internal' });
    expect(tpl.provenance).toContain('templatefile at repo/infra/main.tf:8');
    expect(repo.findings.some((f) => f.file === 'repo/ansible/ansible.cfg' && f.class === 'undeclared' && f.value === 'https://galaxy.ansible.com/')).toBe(true);
  });
});

describe('new user 39: module arguments in a cycle and a template rendered too often stay bounded', () => {
  it('refuses a variable passed around a module cycle and names the renders past the bound', { timeout: 60_000 }, async () => {
    const calls = Array.from({ length: 20 }, (_, i) => `output "o${i}" { value = templatefile("./t.tftpl", { h = "https://dl${i}.vendor.example.com" }) }`).join('\n');
    const { work: w, one: o, at: a } = await auditRepo('ferry-nu39h-', {
      'a/main.tf': `module "b" {\n  source = "../b"\n  reg    = var.reg\n}\nvariable "reg" {}\n`,
      'b/main.tf': `module "a" {\n  source = "../a"\n  reg    = var.reg\n}\nresource "docker_container" "x" {\n  image = "\${var.reg}/app:1"\n}\n`,
      'c/main.tf': `${calls}\n`,
      'c/t.tftpl': 'curl ${h}/x.sh\n',
    }, MANIFEST, TARGET);
    try {
      const img = o('repo/b/main.tf', 6);
      expect(img).toMatchObject({ kind: 'image', value: '${var.reg}/app:1' });
      expect(img.provenance).toContain('defined through itself');
      expect(a('repo/c/t.tftpl', 1)).toHaveLength(16);
      expect(a('repo/c/main.tf', 17).some((f) => (f.provenance ?? '').includes('rendered more than 16 times'))).toBe(true);
    } finally {
      await rm(w, { recursive: true, force: true });
    }
  });
});
