import { describe, expect, it } from 'vitest';
import { tfCliVarsIn } from '../../../src/audit/runtime-vars.js';
import { execKeepingTemplates, unfilledHost } from '../../../src/audit/unknown-host.js';
import { DEB_LINE } from '../../../src/audit/scan.js';

describe('recall5: a host part still holding a template or variable, every finding kind', () => {
  it.each([
    ['url', '{{ git_base }}/app.git', '{{ git_base }}'],
    ['url', '{{ repo }}', '{{ repo }}'],
    ['url', 'https://{{ h }}/x.tgz', '{{ h }}'],
    ['url', '${var.k8s_master_ips}', '${var.k8s_master_ips}'],
    ['url', 'git@{{ gh }}:org/repo.git', '{{ gh }}'],
    ['oci', '{{ chart_registry }}/charts', '{{ chart_registry }}'],
    ['apt', '{{ mirror }}/debian', '{{ mirror }}'],
    ['apt', 'http://$(MIRROR)/debian', '$(MIRROR)'],
    ['image', '{{ reg }}/app:1.0', '{{ reg }}'],
    ['image', '{{ image_ref }}', '{{ image_ref }}'],
    ['image', '$REGISTRY/app', '$REGISTRY'],
    ['host', '{% if a %}a.io{% endif %}', '{% if a %}'],
    ['host', '%{ if x }a%{ endif }', '%{ if x }'],
  ] as const)('%s %s: host unknown (%s)', (kind, value, template) => {
    expect(unfilledHost({ kind, value })).toBe(template);
  });

  it.each([
    ['image', 'nginx:{{ tag }}'],
    ['image', 'library/{{ name }}:1'],
    ['image', 'registry.example.io/app:{{ tag }}'],
    ['url', 'https://host.example.io:{{ port }}/x'],
    ['url', 'https://{{ user }}:{{ pass }}@host.example.io/x'],
    ['url', 'https://host.example.io/{{ path }}'],
    ['url', 'git@github.com:{{ org }}/repo.git'],
    ['apt', 'http://deb.debian.org/{{ dist }}'],
  ] as const)('%s %s: the host is written out', (kind, value) => {
    expect(unfilledHost({ kind, value })).toBeUndefined();
  });

  it('reads a host part of a hostile length in bounded time and keeps the template it met first', () => {
    const value = `https://${'{{ a }}'.repeat(200_000)}/x`;
    expect(unfilledHost({ kind: 'url', value })).toBe('{{ a }}');
    expect(unfilledHost({ kind: 'url', value: `https://${'a'.repeat(1_000_000)}\${HOST}` })).toBeUndefined();
  });

  it("a one-line APT source keeps a {{ … }}'s spaces inside its URI", () => {
    // Old code: the URI was `{{` (the line split at the template's spaces), its host `{{`.
    const m = execKeepingTemplates(DEB_LINE, 'deb [arch=amd64] {{ mirror }}/debian {{ suite }} main contrib')!;
    expect([m[2], m[3], m[4]]).toEqual(['{{ mirror }}/debian', '{{ suite }}', 'main contrib']);
  });
});

describe('recall5: terraform -var and -var-file on a command line', () => {
  it('reads -chdir, -var k=v in its forms, and -var-file in its forms; a shell value is unknown, a shell path not named', () => {
    const text = [
      'plan:',
      '  script:',
      `    - terraform -chdir=infra plan -var 'registry_host=registry.ci.vendor.io' -var="api_host=api.ci.vendor.io" --var-file=envs/prod.tfvars -var-file staging.tfvars`,
      '    - tofu apply -var region=$REGION -var-file="$ENV.tfvars" && terraform -var-file=next.tfvars',
      '    - terraform apply -var gcp_project_id=<ID of your GCP project>',
      '',
    ].join('\n');
    const cmds = tfCliVarsIn(text);
    expect(cmds.map((c) => ({ line: c.line, chdir: c.chdir, vars: c.vars.map((v) => [v.name, v.value, v.how]), files: c.varFiles, unnamed: c.unnamed }))).toEqual([
      { line: 3, chdir: 'infra', vars: [['registry_host', 'registry.ci.vendor.io', 'terraform -var registry_host'], ['api_host', 'api.ci.vendor.io', 'terraform -var api_host']], files: ['envs/prod.tfvars', 'staging.tfvars'], unnamed: [] },
      { line: 4, chdir: undefined, vars: [['region', undefined, 'tofu -var region']], files: [], unnamed: ['$ENV.tfvars'] },
      { line: 4, chdir: undefined, vars: [], files: ['next.tfvars'], unnamed: [] },
      { line: 5, chdir: undefined, vars: [['gcp_project_id', undefined, 'terraform -var gcp_project_id']], files: [], unnamed: [] },
    ]);
  });
});
