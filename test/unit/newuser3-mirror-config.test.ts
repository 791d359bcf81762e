import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { mirrorConfig } from '../../src/rewrite/mirror-config.js';
import { CTRL_DIGEST, CTRL_STORED, fixtureContext } from './rewrite/helpers.js';

/**
 * An oc-mirror user's expectations of `mirror-config idms|itms`, checked against OpenShift's own
 * published CRD schemas (test/fixtures/openshift/*.crd.yaml, copied from github:openshift/api
 * with their commit) and against CRI-O's semantics: an IDMS serves pulls by digest only, an
 * ITMS pulls by tag only.
 */
const FIX = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../fixtures/openshift');
const filesOf = (r: { files: Array<{ path: string; content: string }> }) => Object.fromEntries(r.files.map((f) => [f.path, f.content]));
/** RFC 1123 subdomain, as the API server checks metadata.name. */
const DNS1123 = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

async function crdValidator(file: string) {
  const crd = parseYaml(await readFile(path.join(FIX, file), 'utf8'));
  const ajv = new Ajv({ strict: false, allErrors: true });
  return ajv.compile(crd.spec.versions.find((v: { name: string }) => v.name === 'v1').schema.openAPIV3Schema);
}

describe('mirror-config idms / itms (oc-mirror user)', () => {
  it('both objects validate against the config.openshift.io/v1 CRD schemas, a registry with a port included', async () => {
    for (const [fmt, crd, file] of [
      ['idms', 'imagedigestmirrorsets.crd.yaml', 'image-digest-mirror-set.yaml'],
      ['itms', 'imagetagmirrorsets.crd.yaml', 'image-tag-mirror-set.yaml'],
    ] as const) {
      const validate = await crdValidator(crd);
      const doc = parseYaml(filesOf(await mirrorConfig(fmt, await fixtureContext(), {}))[file]);
      expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
      const list = doc.spec[fmt === 'idms' ? 'imageDigestMirrors' : 'imageTagMirrors'];
      expect(list).toContainEqual({ source: 'registry.example.com:5000', mirrors: ['mirror.site.example:5000/ferry/registry.example.com-5000'] });
      expect(doc.metadata.name).toMatch(DNS1123);
    }
  });

  it('a target name that is no Kubernetes name becomes one (the API server refuses ferry-Site_A)', async () => {
    const ctx = await fixtureContext((t) => ((t.metadata as Record<string, unknown>).name = 'Site_A (prod)'));
    const r = await mirrorConfig('idms', ctx, {});
    const doc = parseYaml(filesOf(r)['image-digest-mirror-set.yaml']);
    expect(doc.metadata.name).toBe('ferry-site-a-prod');
    expect(doc.metadata.name).toMatch(DNS1123);
    expect(r.notes.join('\n')).toContain('ferry-site-a-prod');
  });

  it('idms names every image pinned by tag (CRI-O pulls those from upstream); itms names every image pinned by digest', async () => {
    const idms = await mirrorConfig('idms', await fixtureContext(), {});
    const tagOnly = idms.warnings.find((w) => w.includes('pinned by tag'));
    expect(tagOnly).toBeDefined();
    expect(tagOnly).toContain('docker.io/library/nginx:1.27');
    expect(tagOnly).toContain('ghcr.io/example/app:2.0');
    expect(tagOnly).toContain('mirror-config itms');
    expect(tagOnly).not.toContain('ingress-nginx/controller');
    const itms = await mirrorConfig('itms', await fixtureContext(), {});
    const digestOnly = itms.warnings.find((w) => w.includes('pinned by digest'));
    expect(digestOnly).toContain(`registry.k8s.io/ingress-nginx/controller:v1.15.1@${CTRL_DIGEST}`);
    expect(digestOnly).not.toContain('nginx:1.27');
  });

  it('every format warns that a platform-filtered image referenced by its upstream digest is not on the mirror', async () => {
    for (const fmt of ['idms', 'containerd', 'registries-conf', 'k3s']) {
      const r = await mirrorConfig(fmt, await fixtureContext(), {});
      const w = r.warnings.find((x) => x.includes('platform-filtered'));
      expect(w, fmt).toContain(`registry.k8s.io/ingress-nginx/controller:v1.15.1@${CTRL_DIGEST}`);
      expect(w, fmt).toContain(CTRL_STORED);
    }
  });
});

describe('mirror-config with a flat layout (every registry in one namespace)', () => {
  const flat = (t: Record<string, unknown>) => ((t.registry as Record<string, unknown>).layout = 'flat');

  it('idms/itms name each carried repository, so a tag pull of an uncarried ghcr.io/x is never sent to quay.io/x on the mirror', async () => {
    const validate = await crdValidator('imagetagmirrorsets.crd.yaml');
    const r = await mirrorConfig('itms', await fixtureContext(flat), { registries: ['gcr.io'] });
    const doc = parseYaml(filesOf(r)['image-tag-mirror-set.yaml']);
    expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
    const list = doc.spec.imageTagMirrors as Array<{ source: string; mirrors: string[] }>;
    expect(list).toContainEqual({ source: 'ghcr.io/example/app', mirrors: ['mirror.site.example:5000/ferry/example/app'] });
    expect(list).toContainEqual({ source: 'docker.io/library/nginx', mirrors: ['mirror.site.example:5000/ferry/library/nginx'] });
    expect(list.map((e) => e.source)).not.toContain('ghcr.io');
    // A registry named with --registry (nothing carried yet) keeps its registry-wide entry.
    expect(list).toContainEqual({ source: 'gcr.io', mirrors: ['mirror.site.example:5000/ferry'] });
  });

  it('registry-wide formats warn that the registries share one namespace', async () => {
    const r = await mirrorConfig('containerd', await fixtureContext(flat), {});
    expect(r.warnings.join('\n')).toMatch(/layout: flat.*share one namespace/);
    const nested = await mirrorConfig('containerd', await fixtureContext(), {});
    expect(nested.warnings.join('\n')).not.toMatch(/share one namespace/);
  });
});

describe('mirrorSourcePolicy', () => {
  it('--never-contact-source sets NeverContactSource on every entry (CRD-valid); unset, a note says what that means; other formats refuse it', async () => {
    const validate = await crdValidator('imagedigestmirrorsets.crd.yaml');
    const r = await mirrorConfig('idms', await fixtureContext(), { neverContactSource: true });
    const doc = parseYaml(filesOf(r)['image-digest-mirror-set.yaml']);
    expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
    expect(doc.spec.imageDigestMirrors.every((e: { mirrorSourcePolicy?: string }) => e.mirrorSourcePolicy === 'NeverContactSource')).toBe(true);
    const unset = await mirrorConfig('itms', await fixtureContext(), {});
    expect(parseYaml(filesOf(unset)['image-tag-mirror-set.yaml']).spec.imageTagMirrors[0].mirrorSourcePolicy).toBeUndefined();
    expect(unset.notes.join('\n')).toContain('--never-contact-source');
    await expect(mirrorConfig('k3s', await fixtureContext(), { neverContactSource: true })).rejects.toThrow(/idms and itms/);
  });
});
