import { describe, expect, it } from 'vitest';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';

/**
 * recall11: what a deployment tree still sends out, read as the program that runs it reads it:
 * web servers' request variables and placeholders, Apache's Define, an env_file's values filled
 * in from the service's environment (compose-go 2.10), Ansible JSON variables files, and a
 * script's `source ./env.sh` before `docker compose up`.
 */
const FILES: Record<string, string> = {
  'nginx/site.conf': [
    'server {', // 1
    '  listen 80;',
    '  location /a { proxy_pass https://$host$request_uri; }',
    '  location /b { proxy_pass https://upstream.example.com$request_uri; }',
    '  location /c { proxy_pass http://backend.vendor.io:8080$uri$is_args$args; }', // 5
    '  location /d { return 301 https://www.vendor.io$request_uri; }',
    '  location /e {',
    '    proxy_pass $backend;',
    '  }',
    '}', // 10
    'upstream app_group {',
    '  server app.vendor.io:8065;',
    '}',
    'server { location / { proxy_pass http://app_group; } }',
    '',
  ].join('\n'),
  'caddy/Caddyfile': [
    'example.com {', // 1
    '  redir https://www.vendor.io{http.request.uri}',
    '  reverse_proxy {env.BACKEND_URL}',
    '  reverse_proxy https://{env.API_HOST}:443',
    '}', // 5
    '',
  ].join('\n'),
  'apache/site.conf': [
    'Define BACKEND backend.apache.vendor.io', // 1
    '<VirtualHost *:80>',
    '  ProxyPass /api https://${BACKEND}/api',
    '  ProxyPass /x http://${UNDEFINED_VAR}/x',
    '  RewriteRule ^ https://www.apache.vendor.io%{REQUEST_URI} [R=301,L]', // 5
    '  ProxyPass /y ${UPSTREAM_URL}',
    '</VirtualHost>',
    '',
  ].join('\n'),
  'app/compose.yaml': [
    'services:', // 1
    '  api:',
    '    image: registry.vendor.io/api:1',
    '    environment:',
    '      API_HOST: api.prod.vendor.io', // 5
    '      TELEMETRY: ${TEL_HOST:-tel.vendor.io}',
    '    env_file:',
    '      - config/app.conf',
    '',
  ].join('\n'),
  'app/config/app.conf': 'API_URL=https://${API_HOST}/v1\nTEL_URL="https://${TELEMETRY}/collect"\nREG=${REGISTRY}/x\nRAW=\'https://${API_HOST}/raw\'\n',
  'app/.env': 'REGISTRY=https://reg.vendor.io\nDOMAIN=mm.site.example\nSITEURL=https://${DOMAIN}\n',
  'ansible/roles/agent/tasks/main.yml': '- name: load vendor vars\n  include_vars: vendor.json\n- name: get agent\n  get_url:\n    url: "https://{{ agent_host }}/agent.tar.gz"\n    dest: /tmp/agent.tgz\n',
  'ansible/roles/agent/vars/vendor.json': '{"agent_host": "dl.agentvendor.io"}\n',
  'ansible/site.yml': '- hosts: all\n  vars_files:\n    - vars/site.json\n  tasks:\n    - get_url:\n        url: "https://{{ site_host }}/x.tgz"\n        dest: /tmp/x\n',
  'ansible/roles/repo/tasks/main.yml': '- ansible.builtin.apt_repository:\n    repo: "{{ custom_apt_repo }}"\n  when: custom_apt_repo | length > 0\n',
  'ansible/roles/repo/defaults/main.yml': 'custom_apt_repo: ""\n',
  'ansible/vars/site.json': '{\n  "site_host": "files.sitevendor.io"\n}\n',
  'deploy/compose.yaml': 'services:\n  app:\n    image: ${REGISTRY:-docker.io}/acme/app:1\n  agent:\n    image: ${AGENT_IMAGE:-vendor/agent:2}\n',
  'deploy/scripts/up.sh': '#!/bin/sh\nset -e\nsource ./env.sh\n. ./more/env\ndocker compose up -d\n',
  'deploy/env.sh': 'export REGISTRY=registry.site.example\n',
  'deploy/more/env': 'set -a\nAGENT_IMAGE=mirror.site.example/vendor/agent:2\nset +a\n',
  'deploy/scripts/own-dir.sh': 'source "$(dirname "$0")/../env.sh"\ndocker compose -f compose.yaml up -d\n',
  'other/compose.yaml': 'services:\n  app:\n    image: ${REGISTRY:-docker.io}/acme/other:1\n',
  'other/scripts/up.sh': 'source "$ENV_DIR/env.sh"\ndocker compose up -d\n',
  'many/compose.yaml': 'services:\n  app:\n    image: ${REGISTRY:-docker.io}/acme/many:1\n',
  'many/up.sh': `${Array.from({ length: 300 }, (_, i) => `export V${i}=x`).join('\n')}\nexport REGISTRY=registry.late.example\ndocker compose up -d\n`,
};

describe('recall11: web servers, env_file values, Ansible JSON, sourced shell files', () => {
  const repo = auditedRepo('ferry-recall11-', FILES, MANIFEST, NESTED_SITE_TARGET);

  it('nginx: a request path variable after a written host keeps the host; a variable in the host is unknown', () => {
    expect(repo.one('repo/nginx/site.conf', 3)).toMatchObject({ host: 'unknown', class: 'undeclared' });
    const b = repo.one('repo/nginx/site.conf', 4);
    expect(b).toMatchObject({ value: 'https://upstream.example.com$request_uri', host: 'upstream.example.com' });
    expect(b.note).toContain('the path after the host is $request_uri');
    expect(repo.one('repo/nginx/site.conf', 5).host).toBe('backend.vendor.io');
    expect(repo.one('repo/nginx/site.conf', 6).host).toBe('www.vendor.io');
    const e = repo.one('repo/nginx/site.conf', 8);
    expect(e).toMatchObject({ value: '$backend', host: 'unknown', class: 'undeclared' });
    expect(e.note).toContain('nginx proxy_pass $backend');
  });

  it('Caddy: placeholders are kept whole; a request path one keeps the host, one in the host or the whole upstream is unknown', () => {
    expect(repo.one('repo/caddy/Caddyfile', 2)).toMatchObject({ value: 'https://www.vendor.io{http.request.uri}', host: 'www.vendor.io' });
    expect(repo.one('repo/caddy/Caddyfile', 3)).toMatchObject({ value: '{env.BACKEND_URL}', host: 'unknown' });
    expect(repo.one('repo/caddy/Caddyfile', 4)).toMatchObject({ value: 'https://{env.API_HOST}:443', host: 'unknown' });
  });

  it("Apache: ${NAME} from a Define above is filled in, %{REQUEST_URI} keeps the host, an undefined one is unknown", () => {
    const api = repo.one('repo/apache/site.conf', 3);
    expect(api).toMatchObject({ value: 'https://backend.apache.vendor.io/api', host: 'backend.apache.vendor.io' });
    expect(api.note).toContain('Define at repo/apache/site.conf:1');
    expect(repo.one('repo/apache/site.conf', 4).host).toBe('unknown');
    expect(repo.one('repo/apache/site.conf', 5)).toMatchObject({ value: 'https://www.apache.vendor.io%{REQUEST_URI}', host: 'www.apache.vendor.io' });
    expect(repo.one('repo/apache/site.conf', 6)).toMatchObject({ value: '${UPSTREAM_URL}', host: 'unknown' });
  });

  it("Compose: an env_file's values take the service's environment: after the project env (compose-go 2.10)", () => {
    const api = repo.one('repo/app/config/app.conf', 1);
    expect(api).toMatchObject({ value: 'https://api.prod.vendor.io/v1', host: 'api.prod.vendor.io' });
    expect(api.note).toContain("service api's environment:");
    // The service's value is itself interpolated from the project env (its default here).
    expect(repo.one('repo/app/config/app.conf', 2)).toMatchObject({ value: 'https://tel.vendor.io/collect', host: 'tel.vendor.io' });
    expect(repo.one('repo/app/config/app.conf', 3)).toMatchObject({ value: 'https://reg.vendor.io/x' });
    // Single-quoted: as written.
    expect(repo.one('repo/app/config/app.conf', 4).host).toBe('unknown');
  });

  it('real trees: an nginx upstream group is no host, a .env value from a name set above is filled in, an empty Ansible repo names nothing', () => {
    const group = repo.one('repo/nginx/site.conf', 14);
    expect(group).toMatchObject({ value: 'http://app_group', class: 'internal' });
    expect(group.note).toContain('nginx upstream group app_group (repo/nginx/site.conf:11)');
    expect(repo.one('repo/nginx/site.conf', 12).host).toBe('app.vendor.io');
    expect(repo.one('repo/app/.env', 3)).toMatchObject({ value: 'https://mm.site.example', host: 'mm.site.example' });
    expect(repo.at('repo/ansible/roles/repo/tasks/main.yml', 2)).toEqual([]);
  });

  it('Ansible: include_vars and vars_files of JSON files fill the variables in', () => {
    expect(repo.one('repo/ansible/roles/agent/tasks/main.yml', 5)).toMatchObject({ value: 'https://dl.agentvendor.io/agent.tar.gz', host: 'dl.agentvendor.io' });
    expect(repo.one('repo/ansible/site.yml', 6)).toMatchObject({ value: 'https://files.sitevendor.io/x.tgz', host: 'files.sitevendor.io' });
  });

  it("a script's source ./env.sh and . ./env above docker compose apply their exports", () => {
    const app = repo.at('repo/deploy/compose.yaml', 3);
    expect(app.map((f) => f.value).sort()).toEqual(['registry.site.example/acme/app:1', 'registry.site.example/acme/app:1']);
    const agent = repo.at('repo/deploy/compose.yaml', 5).map((f) => f.value).sort();
    // up.sh's . ./more/env (set -a) exports AGENT_IMAGE; own-dir.sh sources env.sh only.
    expect(agent).toEqual(['mirror.site.example/vendor/agent:2', 'vendor/agent:2']);
  });

  it('a sourced file not read, or more exports than the bound, leaves the run unknown, saying why', () => {
    const other = repo.one('repo/other/compose.yaml', 3);
    expect(other.host).toBe('unknown');
    expect(other.note).toContain('sources $ENV_DIR/env.sh (a name a shell variable gives)');
    const many = repo.one('repo/many/compose.yaml', 3);
    expect(many.host).toBe('unknown');
    expect(many.note).toContain('exports more than 256 names above the command line');
  });
});
