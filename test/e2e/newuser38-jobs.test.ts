import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';
import type { AuditReport } from '../../src/audit/audit.js';

/**
 * A Terraform/OpenTofu repository audited before the move behind the gap (new-user round 38):
 * versions.tf's required_providers, module blocks with every source form of the Terraform module
 * sources docs, helm_release, kubernetes_deployment, openstack_images_image_v2, an http data
 * source, a local-exec provisioner, variables/locals/terraform.tfvars, a .terraformrc with
 * provider_installation (network_mirror, filesystem_mirror, direct with exclude) and a
 * .terraform.lock.hcl. Before, .tf files were plain text: no provider or registry module was
 * reported (never written as a URL), `image = "nginx:1.25"` was no image, and an image written
 * `${var.registry}/app:${var.tag}` was read as written.
 */
const FILES: Record<string, string> = {
  '.terraformrc': `provider_installation {
  network_mirror {
    url     = "https://files.site.internal/terraform/providers/"
    include = ["hashicorp/*"]
  }
  filesystem_mirror {
    path    = "/usr/share/terraform/providers"
    include = ["registry.example.com/*/*"]
  }
  direct {
    exclude = ["hashicorp/*", "registry.example.com/*/*"]
  }
}
`,
  'infra/.terraform.lock.hcl': `# This file is maintained automatically by "terraform init".
provider "registry.terraform.io/hashicorp/aws" {
  version     = "5.61.0"
  constraints = "~> 5.0"
  hashes = [
    "h1:abc=",
    "zh:0123",
  ]
}
`,
  'infra/main.tf': `module "vpc" {
  source  = "terraform-aws-modules/vpc/aws"
  version = "5.8.1"
}

module "net" {
  source = "git::https://git.example.com/infra/net.git//modules/net?ref=v1.2.0"
}

module "consul" {
  source = "github.com/hashicorp/example//subdir"
}

module "ssh" {
  source = "git@github.com:acme/tf-ssh.git"
}

module "zip" {
  source = "https://artifacts.example.com/modules/module.zip"
}

module "s3" {
  source = "s3::https://s3-eu-west-1.amazonaws.com/acme-modules/vpc.zip"
}

module "app" {
  source = "./modules/app"
}

resource "helm_release" "cert_manager" {
  name       = "cert-manager"
  repository = "https://charts.jetstack.io"
  chart      = "cert-manager"
  version    = "v1.15.3"

  set {
    name  = "image.repository"
    value = "quay.io/jetstack/cert-manager-controller"
  }
  set {
    name  = "image.tag"
    value = "v1.15.3"
  }
  values = [file("\${path.module}/values.yaml")]
}

resource "kubernetes_deployment" "web" {
  metadata { name = "web" }
  spec {
    template {
      metadata { labels = { app = "web" } }
      spec {
        container {
          name  = "web"
          image = "nginx:1.25"
        }
        container {
          name  = "app"
          image = "\${var.registry}/app:\${var.tag}"
        }
        container {
          name  = "side"
          image = "\${var.sidecar}"
        }
      }
    }
  }
}

resource "openstack_images_image_v2" "ubuntu" {
  name             = "ubuntu"
  image_source_url = "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img"
}

data "http" "ip" {
  url = "https://\${local.api_host}/v1/ip"
}

resource "null_resource" "seed" {
  provisioner "local-exec" {
    command = <<EOT
curl -fsSL https://get.example.org/install.sh | sh
EOT
  }
}
`,
  'infra/terraform.tfvars': `sidecar = "envoyproxy/envoy:v1.31.0"
`,
  'infra/variables.tf': `variable "registry" {
  type    = string
  default = "registry.site.internal/apps"
}
variable "tag" {
  default = "1.0.0"
}
variable "sidecar" {
  default = "envoyproxy/envoy:v1.30.0"
}
locals {
  api_host = "api.vendor.example.com"
}
`,
  'infra/versions.tf': `terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "2.14.0"
    }
    openstack = {
      source  = "terraform-provider-openstack/openstack"
      version = "~> 2.1"
    }
    acme = {
      source = "registry.example.com/acme/x"
    }
  }
}
`,
};
const MANIFEST = `apiVersion: ferry/v1alpha1
kind: Manifest
metadata: { name: site }
images:
  - ref: docker.io/library/nginx:1.25
  - ref: quay.io/jetstack/cert-manager-controller:v1.15.3
charts:
  - { name: cert-manager, repo: https://charts.jetstack.io, version: v1.15.3 }
`;
const TARGET = `${NESTED_SITE_TARGET}charts:
  dir: /srv/mirror/charts
  baseUrl: https://charts.site.internal
files:
  dir: /srv/mirror/files
  baseUrl: https://files.site.internal
`;

describe('new user 38: a Terraform repository audited', () => {
  const repo = auditedRepo('ferry-nu38-', FILES, MANIFEST, TARGET);
  const { at, one } = repo;
  it('reports a provider by its registry, or the mirror the CLI configuration installs it from', () => {
    const openstack = one('repo/infra/versions.tf', 13);
    expect(openstack).toMatchObject({ kind: 'host', value: 'registry.terraform.io', class: 'undeclared' });
    expect(openstack.provenance).toContain('registry.terraform.io/terraform-provider-openstack/openstack');
    expect(one('repo/infra/versions.tf', 5)).toMatchObject({ kind: 'url', value: 'https://files.site.internal/terraform/providers/registry.terraform.io/hashicorp/aws/index.json', class: 'internal' });
    expect(one('repo/infra/versions.tf', 17)).toMatchObject({ class: 'internal', value: 'file:///usr/share/terraform/providers/registry.example.com/acme/x/' });
    // The lock file names what terraform init downloads.
    expect(one('repo/infra/.terraform.lock.hcl', 2).provenance).toContain('registry.terraform.io/hashicorp/aws 5.61.0');
    // include/exclude patterns are no destinations.
    expect(repo.findings.filter((f) => f.file === 'repo/.terraformrc').map((f) => f.line)).toEqual([3]);
  });
  it('reports every remote module source form, and nothing for a local path', () => {
    expect(one('repo/infra/main.tf', 2)).toMatchObject({ kind: 'host', value: 'registry.terraform.io', class: 'undeclared' });
    expect(one('repo/infra/main.tf', 2).provenance).toContain('terraform-aws-modules/vpc/aws version 5.8.1');
    expect(one('repo/infra/main.tf', 7).value).toBe('https://git.example.com/infra/net.git');
    expect(one('repo/infra/main.tf', 11).value).toBe('https://github.com/hashicorp/example.git');
    expect(one('repo/infra/main.tf', 15)).toMatchObject({ kind: 'host', value: 'github.com' });
    expect(one('repo/infra/main.tf', 19).value).toBe('https://artifacts.example.com/modules/module.zip');
    expect(one('repo/infra/main.tf', 23).value).toBe('https://s3-eu-west-1.amazonaws.com/acme-modules/vpc.zip');
    expect(at('repo/infra/main.tf', 27)).toEqual([]);
  });
  it('ties helm_release and container images to the manifest, and fills in variables set once', () => {
    // The chart is carried, but helm_release fetches its repository as written.
    expect(one('repo/infra/main.tf', 32)).toMatchObject({ kind: 'url', value: 'https://charts.jetstack.io', class: 'undeclared' });
    expect(one('repo/infra/main.tf', 32).note).toContain('Helm fetches a chart repository URL');
    expect(one('repo/infra/main.tf', 38)).toMatchObject({ kind: 'image', value: 'quay.io/jetstack/cert-manager-controller:v1.15.3', class: 'mirrored' });
    expect(one('repo/infra/main.tf', 55)).toMatchObject({ kind: 'image', value: 'nginx:1.25', class: 'mirrored' });
    expect(one('repo/infra/main.tf', 59)).toMatchObject({ kind: 'image', value: 'registry.site.internal/apps/app:1.0.0', class: 'internal' });
    const side = one('repo/infra/main.tf', 63);
    // terraform.tfvars, which Terraform loads itself, overrides the variable's default (recall3).
    expect(side).toMatchObject({ kind: 'image', value: 'envoyproxy/envoy:v1.31.0', class: 'undeclared' });
    expect(side.provenance).toContain('terraform.tfvars');
    expect(one('repo/infra/main.tf', 72).value).toBe('https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img');
    expect(one('repo/infra/main.tf', 76)).toMatchObject({ value: 'https://api.vendor.example.com/v1/ip', class: 'undeclared' });
    expect(one('repo/infra/main.tf', 82)).toMatchObject({ value: 'https://get.example.org/install.sh' });
  });
  it('bounds hostile HCL: deep nesting, a chain of variables each using the last many times', { timeout: 60_000 }, async () => {
    const dir = path.join(repo.work, 'hostile');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'deep.tf'), `locals {\n  x = ${'['.repeat(100_000)}\n}\n`);
    const chain = ['variable "v0" { default = "abcdefgh" }', ...Array.from({ length: 12 }, (_, i) => `variable "v${i + 1}" { default = "${`\${var.v${i}}`.repeat(60)}" }`)].join('\n');
    await writeFile(path.join(dir, 'vars.tf'), `${chain}\ndata "http" "x" { url = "https://dl.vendor.example.com/\${var.v12}" }\n`);
    const r = await runFerry(['audit', 'hostile', '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: repo.work });
    const report = JSON.parse(r.stdout) as AuditReport;
    const f = report.findings.filter((x) => x.file === 'hostile/vars.tf' && x.line === 14);
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ kind: 'url', host: 'dl.vendor.example.com', class: 'undeclared' });
    expect(f[0].provenance).toContain('longer than 4096 characters once filled in');
    expect(JSON.stringify(report)).toContain('nested deeper than 32');
  });
});
