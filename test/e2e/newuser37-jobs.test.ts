import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';
import type { AuditReport } from '../../src/audit/audit.js';

/**
 * An Ansible repository audited before the move behind the gap (new-user round 37): roles with
 * `defaults/main.yml`, `group_vars/all/`, `requirements.yml`, tasks written with FQCN and short
 * module names (checked against the Ansible docs: ansible.builtin.get_url `url`/`checksum`,
 * apt_key `url`, apt_repository `repo`, deb822_repository `uris`/`signed_by`, apt `deb`, pip
 * `name`/`extra_args`, yum_repository `baseurl`/`gpgkey`, unarchive `src`, uri `url`;
 * community.docker.docker_image `name` + `tag` + `source: pull`, docker_container `image`;
 * containers.podman.podman_image/_container; kubernetes.core.helm `chart_ref`/`chart_repo_url`/
 * `chart_version`, helm_repository `repo_url`, k8s `definition`).
 *
 * What tripped (`ferry audit <repo>`):
 * - a URL with `{{ var }}` was cut at the `{{` (`…/download/{{`), its variable never read;
 * - `apt_key: url: "{{ docker_apt_key_url }}"` and `docker_image: name: "{{ grafana_repo }}"` +
 *   `tag:` were no finding at all (a hole), nor was an image from a variable set nowhere;
 * - `apt_repository`'s `deb …` line was no APT source (only the variable's value was a URL), and
 *   deb822_repository's `uris` a plain URL;
 * - `pip: name: yq` (PyPI) and a requirements.yml collection or role with no `source` (Galaxy)
 *   were not reported;
 * - a `kubernetes.core.helm` `chart_ref: ingress-nginx/ingress-nginx` was not tied to the
 *   repository its helm_repository task adds.
 */

const FILES: Record<string, string> = {
  'requirements.yml': `---
collections:
  - name: community.docker
    version: 3.10.3
    source: https://galaxy.ansible.com
  - name: kubernetes.core
    version: 3.2.0
  - name: https://github.com/containers/ansible-podman-collections.git
    type: git
    version: 1.15.4
roles:
  - name: geerlingguy.docker
    version: 7.4.1
  - src: https://github.com/example-org/ansible-role-hardening.git
    scm: git
    version: v2.1.0
    name: hardening
`,
  'group_vars/all/main.yml': `---
docker_apt_release_channel: stable
node_exporter_version: "1.8.2"
grafana_image_tag: "11.2.0"
loki_tag: "3.2.0"
`,
  'inventory/hosts.ini': `[k8s]
node1.site.internal
node2.site.internal
`,
  'playbooks/site.yml': `---
- hosts: k8s
  become: true
  roles:
    - docker
    - monitoring
    - k8s_apps
`,
  'roles/docker/defaults/main.yml': `---
docker_apt_url: https://download.docker.com/linux/debian
docker_apt_key_url: "{{ docker_apt_url }}/gpg"
compose_version: "v2.29.2"
`,
  'roles/docker/tasks/main.yml': `---
- name: Add Docker's signing key
  ansible.builtin.apt_key:
    url: "{{ docker_apt_key_url }}"
    state: present

- name: Add Docker's APT repository
  ansible.builtin.apt_repository:
    repo: "deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.asc] {{ docker_apt_url }} bookworm {{ docker_apt_release_channel }}"
    state: present
    filename: docker

- name: Kubernetes APT repository (deb822)
  ansible.builtin.deb822_repository:
    name: kubernetes
    types: [deb]
    uris: https://pkgs.k8s.io/core:/stable:/v1.30/deb/
    suites: ["/"]
    signed_by: https://pkgs.k8s.io/core:/stable:/v1.30/deb/Release.key

- name: Install docker-compose plugin binary
  get_url:
    url: "https://github.com/docker/compose/releases/download/{{ compose_version }}/docker-compose-linux-x86_64"
    dest: /usr/local/lib/docker/cli-plugins/docker-compose
    checksum: sha256:https://github.com/docker/compose/releases/download/{{ compose_version }}/docker-compose-linux-x86_64.sha256
    mode: "0755"

- name: Install a vendor agent .deb
  ansible.builtin.apt:
    deb: https://packages.vendor.example.com/agent/agent_3.1.0_amd64.deb

- name: Python client for the Docker API
  ansible.builtin.pip:
    name: docker==7.1.0
    extra_args: --index-url https://pypi.org/simple

- name: Install yq
  pip:
    name: yq

- name: RHEL hosts get the EPEL repository
  ansible.builtin.yum_repository:
    name: epel
    description: EPEL
    baseurl: https://download.fedoraproject.org/pub/epel/$releasever/Everything/$basearch/
    gpgkey: https://dl.fedoraproject.org/pub/epel/RPM-GPG-KEY-EPEL-9
`,
  'roles/k8s_apps/defaults/main.yml': `---
ingress_chart_version: "4.11.2"
`,
  'roles/k8s_apps/tasks/main.yml': `---
- name: Add the ingress-nginx chart repository
  kubernetes.core.helm_repository:
    name: ingress-nginx
    repo_url: https://kubernetes.github.io/ingress-nginx

- name: Install ingress-nginx
  kubernetes.core.helm:
    name: ingress-nginx
    chart_ref: ingress-nginx/ingress-nginx
    chart_version: "{{ ingress_chart_version }}"
    release_namespace: ingress-nginx
    values:
      controller:
        image:
          registry: registry.k8s.io
          image: ingress-nginx/controller
          tag: v1.11.2

- name: Install cert-manager from its URL
  kubernetes.core.helm:
    name: cert-manager
    chart_ref: cert-manager
    chart_repo_url: https://charts.jetstack.io
    chart_version: v1.15.3
    release_namespace: cert-manager

- name: Install podinfo from OCI
  kubernetes.core.helm:
    name: podinfo
    chart_ref: oci://ghcr.io/stefanprodan/charts/podinfo
    chart_version: 6.7.0

- name: Inline deployment
  kubernetes.core.k8s:
    state: present
    definition:
      apiVersion: apps/v1
      kind: Deployment
      metadata: { name: echo, namespace: default }
      spec:
        selector: { matchLabels: { app: echo } }
        template:
          metadata: { labels: { app: echo } }
          spec:
            containers:
              - name: echo
                image: docker.io/ealen/echo-server:0.9.2
`,
  'roles/monitoring/defaults/main.yml': `---
node_exporter_url: "https://github.com/prometheus/node_exporter/releases/download/v{{ node_exporter_version }}/node_exporter-{{ node_exporter_version }}.linux-amd64.tar.gz"
grafana_repo: grafana/grafana
loki_tag: "3.1.1"
`,
  'roles/monitoring/tasks/main.yml': `---
- name: Unpack node_exporter
  ansible.builtin.unarchive:
    src: "{{ node_exporter_url }}"
    dest: /opt
    remote_src: true

- name: Pull the grafana image
  community.docker.docker_image:
    name: "{{ grafana_repo }}"
    tag: "{{ grafana_image_tag }}"
    source: pull

- name: Run nginx
  community.docker.docker_container:
    name: web
    image: nginx:1.27.1
    ports: ["80:80"]

- name: Pull redis
  docker_image:
    name: redis
    tag: 7.2.5
    source: pull

- name: Run prometheus with podman
  containers.podman.podman_container:
    name: prometheus
    image: quay.io/prometheus/prometheus:v2.54.1

- name: Pull loki with podman
  containers.podman.podman_image:
    name: docker.io/grafana/loki
    tag: "{{ loki_tag }}"

- name: Image from a variable set nowhere
  community.docker.docker_container:
    name: sidecar
    image: "{{ sidecar_image }}"

- name: Health check
  ansible.builtin.uri:
    url: https://status.vendor.example.com/api/health
`,
};

const MANIFEST = `apiVersion: ferry/v1alpha1
kind: Manifest
metadata: { name: site }
images:
  - ref: docker.io/library/nginx:1.27.1
  - ref: docker.io/library/redis:7.2.5
  - ref: docker.io/grafana/grafana:11.2.0
  - ref: quay.io/prometheus/prometheus:v2.54.1
charts:
  - { name: ingress-nginx, repo: https://kubernetes.github.io/ingress-nginx, version: 4.11.2 }
  - { name: cert-manager, repo: https://charts.jetstack.io, version: v1.15.3 }
apt:
  - { name: docker, url: https://download.docker.com/linux/debian, suites: [bookworm], components: [stable], keys: [keys/docker.asc] }
files:
  - name: node-exporter
    url: https://github.com/prometheus/node_exporter/releases/download/v1.8.2/node_exporter-1.8.2.linux-amd64.tar.gz
    sha256: "${'a'.repeat(64)}"
`;

const TARGET = `${NESTED_SITE_TARGET}charts:
  dir: /srv/mirror/charts
  baseUrl: https://charts.site.internal
apt:
  dir: /srv/mirror/apt
  baseUrl: http://apt.site.internal
files:
  dir: /srv/mirror/files
  baseUrl: https://files.site.internal
`;

describe('new user 37: an Ansible repository audited', () => {
  const repo = auditedRepo('ferry-nu37-', FILES, MANIFEST, TARGET);
  const { at, one } = repo;

  it('fills in a URL\'s {{ var }} from the role defaults (and a variable of a variable), never cut at the {{', () => {
    expect(repo.findings.filter((f) => f.value.includes('{{') && !f.provenance?.includes('is set'))).toEqual([]);
    expect(one('repo/roles/docker/tasks/main.yml', 23)).toMatchObject({ kind: 'url', value: 'https://github.com/docker/compose/releases/download/v2.29.2/docker-compose-linux-x86_64', class: 'undeclared' });
    expect(one('repo/roles/docker/tasks/main.yml', 23).provenance).toContain('{{ compose_version }}=v2.29.2 (repo/roles/docker/defaults/main.yml:4)');
    // get_url's `checksum: sha256:<url>` is fetched too.
    expect(one('repo/roles/docker/tasks/main.yml', 25).value).toBe('https://github.com/docker/compose/releases/download/v2.29.2/docker-compose-linux-x86_64.sha256');
    // unarchive src from a default that itself uses a group_vars variable: the carried file.
    // Carried, but get_url/unarchive fetch the URL as written: it still goes out until rewritten (the mirror named).
    expect(one('repo/roles/monitoring/tasks/main.yml', 4)).toMatchObject({ kind: 'url', class: 'undeclared', mirror: 'https://files.site.internal/github.com/prometheus/node_exporter/releases/download/v1.8.2/node_exporter-1.8.2.linux-amd64.tar.gz' });
    expect(one('repo/roles/monitoring/defaults/main.yml', 2)).toMatchObject({ class: 'undeclared', value: 'https://github.com/prometheus/node_exporter/releases/download/v1.8.2/node_exporter-1.8.2.linux-amd64.tar.gz' });
  });

  it('reports apt_key and an image written name + tag from variables (no finding at all before)', () => {
    expect(one('repo/roles/docker/tasks/main.yml', 4)).toMatchObject({ kind: 'url', value: 'https://download.docker.com/linux/debian/gpg', keyPath: '[0].ansible.builtin.apt_key.url' });
    expect(one('repo/roles/monitoring/tasks/main.yml', 10)).toMatchObject({ kind: 'image', value: 'grafana/grafana:11.2.0', class: 'mirrored', mirror: 'registry.site.internal/ferry/docker.io/grafana/grafana:11.2.0' });
    // `name: redis` + `tag: 7.2.5`: one image, not also the generic scan's map reading.
    expect(one('repo/roles/monitoring/tasks/main.yml', 22)).toMatchObject({ kind: 'image', value: 'redis:7.2.5', class: 'mirrored' });
  });

  it('prints a variable set nowhere, or set to two values, as unknown with the places named', () => {
    const sidecar = one('repo/roles/monitoring/tasks/main.yml', 39);
    expect(sidecar).toMatchObject({ kind: 'image', value: '{{ sidecar_image }}', class: 'undeclared' });
    expect(sidecar.provenance).toContain('{{ sidecar_image }} is set in no role defaults/vars, inventory, group_vars, host_vars');
    // group_vars/all outranks a role default for every host (Ansible's variable precedence): one value (round 39).
    const loki = one('repo/roles/monitoring/tasks/main.yml', 33);
    expect(loki).toMatchObject({ kind: 'image', value: 'docker.io/grafana/loki:3.2.0' });
    expect(loki.provenance).toContain('repo/group_vars/all/main.yml:5');
  });

  it('reads apt_repository and deb822_repository as APT sources', () => {
    const docker = one('repo/roles/docker/tasks/main.yml', 9);
    expect(docker).toMatchObject({ kind: 'apt', value: 'https://download.docker.com/linux/debian', class: 'undeclared', mirror: 'http://apt.site.internal/download.docker.com/linux/debian' });
    expect(one('repo/roles/docker/tasks/main.yml', 17)).toMatchObject({ kind: 'apt', value: 'https://pkgs.k8s.io/core:/stable:/v1.30/deb/', class: 'undeclared' });
    expect(one('repo/roles/docker/tasks/main.yml', 19)).toMatchObject({ kind: 'url', value: 'https://pkgs.k8s.io/core:/stable:/v1.30/deb/Release.key' });
  });

  it('reports PyPI behind pip and Galaxy behind requirements.yml', () => {
    expect(one('repo/roles/docker/tasks/main.yml', 39)).toMatchObject({ kind: 'url', value: 'https://pypi.org/simple', host: 'pypi.org', class: 'undeclared' });
    expect(one('repo/roles/docker/tasks/main.yml', 39).provenance).toContain('default index, PyPI');
    expect(one('repo/requirements.yml', 6)).toMatchObject({ value: 'https://galaxy.ansible.com', host: 'galaxy.ansible.com', class: 'undeclared' });
    expect(one('repo/requirements.yml', 12).provenance).toContain('role geerlingguy.docker: ansible-galaxy installs it from its default server');
    // A git source is the generic scan's URL, once.
    expect(one('repo/requirements.yml', 14).value).toBe('https://github.com/example-org/ansible-role-hardening.git');
  });

  it('ties a kubernetes.core.helm chart_ref to the repository its helm_repository task adds', () => {
    const f = one('repo/roles/k8s_apps/tasks/main.yml', 10);
    expect(f).toMatchObject({ kind: 'url', value: 'https://kubernetes.github.io/ingress-nginx', class: 'undeclared' });
    expect(f.note).toContain('carried (the mirror serves it at');
    expect(f.provenance).toContain('chart ingress-nginx version 4.11.2 from the repository ingress-nginx');
    expect(one('repo/roles/k8s_apps/tasks/main.yml', 31)).toMatchObject({ kind: 'oci', value: 'oci://ghcr.io/stefanprodan/charts/podinfo', class: 'undeclared' });
  });

  it('bounds a chain of variables each using the last many times (hostile defaults)', { timeout: 60_000 }, async () => {
    const dir = path.join(repo.work, 'hostile');
    const chain = ['v0: "abcdefgh"', ...Array.from({ length: 8 }, (_, i) => `v${i + 1}: "${`{{ v${i} }}`.repeat(60)}"`)].join('\n');
    await mkdir(path.join(dir, 'roles/r/defaults'), { recursive: true });
    await mkdir(path.join(dir, 'roles/r/tasks'), { recursive: true });
    await writeFile(path.join(dir, 'roles/r/defaults/main.yml'), `${chain}\n`);
    await writeFile(path.join(dir, 'roles/r/tasks/main.yml'), '- ansible.builtin.get_url:\n    url: "https://dl.vendor.example.com/{{ v8 }}"\n    dest: /tmp/x\n');
    const r = await runFerry(['audit', 'hostile', '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: repo.work });
    const f = (JSON.parse(r.stdout) as AuditReport).findings.filter((x) => x.file === 'hostile/roles/r/tasks/main.yml');
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ kind: 'url', host: 'dl.vendor.example.com', value: 'https://dl.vendor.example.com/{{ v8 }}', class: 'undeclared' });
    expect(f[0].provenance).toContain('longer than 4096 characters once filled in');
  });

  it('reads a playbook: free-form arguments, args:, block:, a PPA, a chart from a repository no task adds', async () => {
    const dir = path.join(repo.work, 'playbook');
    await mkdir(dir, { recursive: true });
    await writeFile(
      path.join(dir, 'site.yml'),
      `- hosts: all
  tasks:
    - get_url: url=https://free.example.com/x.tgz dest=/tmp/x
    - block:
        - ansible.builtin.uri:
          args:
            url: https://args.example.com/api
    - pip:
        requirements: /opt/app/requirements.txt
        extra_args: "-i https://pypi.site.internal/simple"
    - apt_repository:
        repo: ppa:deadsnakes/ppa
    - kubernetes.core.helm:
        name: x
        chart_ref: bitnami/redis
`,
    );
    const r = await runFerry(['audit', 'playbook', '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: repo.work });
    const f = (JSON.parse(r.stdout) as AuditReport).findings.map((x) => [x.line, x.keyPath, x.kind, x.value]);
    expect(f).toEqual([
      [3, '[0].tasks[0].get_url', 'url', 'https://free.example.com/x.tgz'],
      [7, '[0].tasks[1].block[0].args.url', 'url', 'https://args.example.com/api'],
      [10, '[0].tasks[2].pip.extra_args', 'url', 'https://pypi.site.internal/simple'],
      [12, '[0].tasks[3].apt_repository.repo', 'url', 'https://ppa.launchpadcontent.net'],
      [15, '[0].tasks[4].kubernetes.core.helm.chart_ref', 'host', 'helm repository bitnami'],
    ]);
  });
});
