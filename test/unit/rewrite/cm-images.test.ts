import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { rewriteManifests } from '../../../src/rewrite/manifests.js';
import { MIRROR, fixtureContext, scratch, write } from './helpers.js';

// What the bitnami clickhouse-operator chart renders: the operator reads this text and starts pods with the image in it.
const CLICKHOUSE = `apiVersion: v1
kind: ConfigMap
metadata:
  name: clickhouse-operator-templates
data:
  default-template.yaml: |
    apiVersion: clickhouse.altinity.com/v1
    kind: ClickHouseInstallationTemplate
    metadata:
      name: default-template

    spec:
      templates:
        podTemplates:
          - name: default
            spec:
              containers:
                - name: clickhouse
                  image: docker.io/bitnami/redis:7.4   # the operator's default
                  args: ["--log-level", "info"]
  other.txt: plain text, no image here
`;

describe('rewrite manifests: images inside text a ConfigMap carries', () => {
  it('rewrites the image of a pod template in a block literal in place, keeping style and indentation, and is idempotent', async () => {
    const dir = await scratch();
    const file = await write(dir, 'cm.yaml', CLICKHOUSE);
    const r = await rewriteManifests([file], await fixtureContext(), {});
    const after = await readFile(file, 'utf8');
    expect(after).toBe(CLICKHOUSE.replace('image: docker.io/bitnami/redis:7.4', `image: ${MIRROR}/docker.io/bitnami/redis:7.4`));
    expect(r.replacements).toEqual([
      expect.objectContaining({
        line: 19,
        old: 'docker.io/bitnami/redis:7.4',
        new: `${MIRROR}/docker.io/bitnami/redis:7.4`,
        where: 'ConfigMap/clickhouse-operator-templates data["default-template.yaml"]: ClickHouseInstallationTemplate/default-template spec.templates.podTemplates[0].spec.containers[0].image',
      }),
    ]);
    expect(r.warnings).toEqual([]);
    // The carried text still parses, with the image moved.
    const inner = parse((parse(after) as { data: Record<string, string> }).data['default-template.yaml']);
    expect(inner.spec.templates.podTemplates[0].spec.containers[0].image).toBe(`${MIRROR}/docker.io/bitnami/redis:7.4`);
    // A second run changes nothing.
    const again = await rewriteManifests([file], await fixtureContext(), {});
    expect(again.replacements).toEqual([]);
    expect(again.files).toEqual([]);
    expect(await readFile(file, 'utf8')).toBe(after);
  });

  it('rewrites a Deployment carried in a block literal with an explicit indentation indicator, its handed-over images too', async () => {
    const dir = await scratch();
    const text = [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata: {name: tpl}',
      'data:',
      '  deploy.yaml: |4-',
      '        # the agent',
      '      apiVersion: apps/v1',
      '      kind: Deployment',
      '      metadata: {name: agent}',
      '      spec:',
      '        template:',
      '          spec:',
      '            containers:',
      '              - name: a',
      '                image: "nginx:1.27"',
      '                args: ["--sidecar-image=ghcr.io/example/app:2.0"]',
      '                env:',
      '                  - name: HELPER_IMAGE',
      '                    value: docker.io/library/redis:7.4',
      '',
    ].join('\n');
    const file = await write(dir, 'cm.yaml', text);
    const r = await rewriteManifests([file], await fixtureContext(), {});
    expect(await readFile(file, 'utf8')).toBe(
      text
        .replace('"nginx:1.27"', `"${MIRROR}/docker.io/library/nginx:1.27"`)
        .replace('--sidecar-image=ghcr.io/example/app:2.0', `--sidecar-image=${MIRROR}/ghcr.io/example/app:2.0`)
        .replace('value: docker.io/library/redis:7.4', `value: ${MIRROR}/docker.io/library/redis:7.4`),
    );
    expect(r.replacements.map((x) => [x.line, x.old])).toEqual([
      [15, 'nginx:1.27'],
      [16, 'ghcr.io/example/app:2.0'],
      [19, 'docker.io/library/redis:7.4'],
    ]);
  });

  it('rewrites a JSON string in data, in its quoting', async () => {
    const dir = await scratch();
    const text = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: j}\ndata:\n  single.json: '{"spec": {"image": "nginx:1.27", "note": "it''s"}}'\n  double.json: "{\\"kind\\": \\"Widget\\", \\"spec\\": {\\"image\\": \\"quay.io/jetstack/cert-manager-controller:v1.16.0\\"}}"\n`;
    const file = await write(dir, 'cm.yaml', text);
    const r = await rewriteManifests([file], await fixtureContext(), {});
    const after = await readFile(file, 'utf8');
    expect(after).toBe(
      text.replace('"image": "nginx:1.27"', `"image": "${MIRROR}/docker.io/library/nginx:1.27"`).replace('\\"quay.io/jetstack', `\\"${MIRROR}/quay.io/jetstack`),
    );
    const data = (parse(after) as { data: Record<string, string> }).data;
    expect(JSON.parse(data['single.json'])).toEqual({ spec: { image: `${MIRROR}/docker.io/library/nginx:1.27`, note: "it's" } });
    expect(JSON.parse(data['double.json']).spec.image).toBe(`${MIRROR}/quay.io/jetstack/cert-manager-controller:v1.16.0`);
    expect(r.replacements.map((x) => [x.line, x.kind, x.where])).toEqual([
      [5, 'custom-resource-image', 'ConfigMap/j data["single.json"]: object spec.image'],
      [6, 'custom-resource-image', 'ConfigMap/j data["double.json"]: Widget spec.image'],
    ]);
  });

  it("rewrites a Secret's stringData, in a List too", async () => {
    const dir = await scratch();
    const text = `apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Secret\n    metadata: {name: s}\n    stringData:\n      pod.yaml: |\n        kind: Pod\n        spec:\n          containers:\n            - image: docker.io/bitnami/redis:7.4\n    data:\n      x.yaml: aW1hZ2U6IG5naW54OjEuMjcK\n`;
    const file = await write(dir, 'secret.yaml', text);
    const r = await rewriteManifests([file], await fixtureContext(), {});
    expect(await readFile(file, 'utf8')).toBe(text.replace('- image: docker.io', `- image: ${MIRROR}/docker.io`));
    expect(r.replacements).toEqual([expect.objectContaining({ line: 12, kind: 'image', where: 'Secret/s items[0].stringData["pod.yaml"]: Pod spec.containers[0].image' })]);
  });

  it('leaves a string that is not YAML alone, beside one that is', async () => {
    const dir = await scratch();
    const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: n}\ndata:\n  run.sh: |\n    #!/bin/sh\n    image: nginx:1.27\n    key: [unclosed\n  conf: "image: nginx:1.27 {"\n  pod.yaml: |\n    kind: Pod\n    spec: {containers: [{image: nginx:1.27}]}\n';
    const file = await write(dir, 'cm.yaml', text);
    const r = await rewriteManifests([file], await fixtureContext(), {});
    expect(r.replacements.map((x) => [x.line, x.where])).toEqual([[12, 'ConfigMap/n data["pod.yaml"]: Pod spec.containers[0].image']]);
    expect(r.unmapped).toEqual([]);
    expect(r.warnings).toEqual([]);
    expect(await readFile(file, 'utf8')).toBe(text.replace('{image: nginx:1.27}', `{image: ${MIRROR}/docker.io/library/nginx:1.27}`));
  });

  it('names an image in a folded scalar it cannot edit in place, and leaves the file as it is', async () => {
    const dir = await scratch();
    const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: f}\ndata:\n  pod.yaml: >\n    {"kind": "Pod", "spec": {"containers":\n    [{"image": "nginx:1.27"}]}}\n';
    const file = await write(dir, 'cm.yaml', text);
    const r = await rewriteManifests([file], await fixtureContext(), {});
    expect(r.replacements).toEqual([]);
    expect(r.files).toEqual([]);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain('ConfigMap/f data["pod.yaml"]: Pod spec.containers[0].image: nginx:1.27 is on the mirror as');
    expect(r.warnings[0]).toContain('a folded (>) block scalar');
    expect(await readFile(file, 'utf8')).toBe(text);
  });

  it('names an image behind an escape in a quoted string, and leaves that string as it is', async () => {
    const dir = await scratch();
    const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: e}\ndata:\n  cr.yaml: "kind: Widget\\nspec:\\n  image: \\u006eginx:1.27"\n';
    const file = await write(dir, 'cm.yaml', text);
    const r = await rewriteManifests([file], await fixtureContext(), {});
    expect(r.replacements).toEqual([]);
    expect(r.warnings).toEqual([expect.stringContaining('ConfigMap/e data["cr.yaml"]: Widget spec.image: nginx:1.27 is on the mirror as')]);
    expect(await readFile(file, 'utf8')).toBe(text);
  });

  it('reports an image the mirror lacks, naming the ConfigMap key and the path inside', async () => {
    const dir = await scratch();
    const text = CLICKHOUSE.replace('docker.io/bitnami/redis:7.4', 'docker.io/bitnami/clickhouse:25.7.5-debian-12-r0');
    const file = await write(dir, 'cm.yaml', text);
    await expect(rewriteManifests([file], await fixtureContext(), {})).rejects.toThrow(/1 reference not covered/);
    const r = await rewriteManifests([file], await fixtureContext(), { allowUnmapped: true });
    expect(r.unmapped).toEqual([
      expect.objectContaining({
        line: 19,
        ref: 'docker.io/bitnami/clickhouse:25.7.5-debian-12-r0',
        where: 'ConfigMap/clickhouse-operator-templates data["default-template.yaml"]: ClickHouseInstallationTemplate/default-template spec.templates.podTemplates[0].spec.containers[0].image (custom resource)',
      }),
    ]);
    expect(await readFile(file, 'utf8')).toBe(text);
    expect(parseAllDocuments(text)).toHaveLength(1);
  });
});
