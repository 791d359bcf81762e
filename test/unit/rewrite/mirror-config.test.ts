import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import { mirrorConfig } from '../../../src/rewrite/mirror-config.js';
import { fixtureContext, scratch } from './helpers.js';

const UPSTREAMS = ['docker.io', 'ghcr.io', 'quay.io', 'registry.example.com:5000', 'registry.k8s.io'];

/** The fixture with an RKE2 system image locked (docker.io/rancher/…), as rke2-images.txt would list. */
async function withRancherImage() {
  const ctx = await fixtureContext();
  const images = ctx.lock.images!;
  images.push({ ...images[0], ref: 'docker.io/rancher/rke2-runtime:v1.31.4-rke2r1' });
  return ctx;
}

const filesOf = (r: { files: Array<{ path: string; content: string }> }) => Object.fromEntries(r.files.map((f) => [f.path, f.content]));

describe('mirror-config containerd', () => {
  it('one hosts.toml per upstream registry, directories named host[:port], override_path for the prefix', async () => {
    const r = await mirrorConfig('containerd', await fixtureContext(), {});
    const files = filesOf(r);
    expect(Object.keys(files).sort()).toEqual([...UPSTREAMS.map((u) => `certs.d/${u}/hosts.toml`), 'config_path.toml'].sort());
    const hub = parseToml(files['certs.d/docker.io/hosts.toml']) as { server: string; host: Record<string, Record<string, unknown>> };
    expect(hub.server).toBe('https://registry-1.docker.io');
    expect(hub.host).toEqual({
      'https://mirror.site.example:5000/v2/ferry/docker.io': { capabilities: ['pull', 'resolve'], override_path: true },
    });
    const ported = parseToml(files['certs.d/registry.example.com:5000/hosts.toml']) as { server: string; host: Record<string, unknown> };
    expect(ported.server).toBe('https://registry.example.com:5000');
    expect(Object.keys(ported.host)).toEqual(['https://mirror.site.example:5000/v2/ferry/registry.example.com-5000']);
    const snippet = parseToml(files['config_path.toml']) as { plugins: Record<string, { registry: { config_path: string } }> };
    expect(snippet.plugins['io.containerd.grpc.v1.cri'].registry.config_path).toBe('/etc/containerd/certs.d');
  });

  it('a flat layout without prefix needs no override_path; the CA is copied and referenced from the node path', async () => {
    const dir = await scratch();
    await writeFile(path.join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const targetFile = path.join(dir, 'target.yaml');
    const ctx = await fixtureContext((t) => {
      const reg = t.registry as Record<string, unknown>;
      reg.layout = 'flat';
      delete reg.prefix;
      reg.ca = 'ca.pem';
    }, targetFile);
    const r = await mirrorConfig('containerd', ctx, { configPath: '/etc/containerd/certs.d', output: path.join(dir, 'out') });
    const hosts = parseToml(await readFile(path.join(dir, 'out/certs.d/quay.io/hosts.toml'), 'utf8')) as { host: Record<string, Record<string, unknown>> };
    expect(hosts.host).toEqual({ 'https://mirror.site.example:5000': { capabilities: ['pull', 'resolve'], ca: '/etc/containerd/certs.d/quay.io/ca.crt' } });
    expect(await readFile(path.join(dir, 'out/certs.d/quay.io/ca.crt'), 'utf8')).toContain('BEGIN CERTIFICATE');
    expect(r.written).toContain(path.join(dir, 'out/certs.d/quay.io/hosts.toml'));
  });
});

describe('mirror-config registries.conf, k3s, rke2, OpenShift, Docker', () => {
  it('registries.conf: one [[registry]] per upstream with its mirror location', async () => {
    const r = await mirrorConfig('registries-conf', await fixtureContext(), {});
    const conf = parseToml(filesOf(r)['registries.conf']) as { registry: Array<{ prefix: string; location: string; mirror: Array<Record<string, unknown>> }> };
    expect(conf.registry.map((x) => x.prefix)).toEqual(UPSTREAMS);
    expect(conf.registry[0]).toEqual({ prefix: 'docker.io', location: 'docker.io', mirror: [{ location: 'mirror.site.example:5000/ferry/docker.io', 'pull-from-mirror': 'all' }] });
  });

  it('registries.conf marks a plain-HTTP mirror insecure', async () => {
    const ctx = await fixtureContext((t) => ((t.registry as Record<string, unknown>).url = 'http://127.0.0.1:5000'));
    const conf = parseToml(filesOf(await mirrorConfig('registries-conf', ctx, {}))['registries.conf']) as { registry: Array<{ mirror: Array<Record<string, unknown>> }> };
    expect(conf.registry[0].mirror[0]).toMatchObject({ location: '127.0.0.1:5000/ferry/docker.io', insecure: true });
  });

  it('k3s and rke2 registries.yaml: endpoint plus a rewrite rule adding the path prefix', async () => {
    for (const flavour of ['k3s', 'rke2']) {
      const doc = parseYaml(filesOf(await mirrorConfig(flavour, await withRancherImage(), {}))['registries.yaml']);
      // Plus the mirror itself, for system-default-registry: rancher/<name> at its root is rewritten to where import put docker.io/rancher/<name>.
      expect(Object.keys(doc.mirrors)).toEqual([...UPSTREAMS, 'mirror.site.example:5000']);
      expect(doc.mirrors['mirror.site.example:5000']).toEqual({ endpoint: ['https://mirror.site.example:5000/v2/'], rewrite: { '^rancher/(.*)$': 'ferry/docker.io/rancher/$1' } });
      expect(doc.mirrors['registry.k8s.io']).toEqual({ endpoint: ['https://mirror.site.example:5000'], rewrite: { '^(.*)$': 'ferry/registry.k8s.io/$1' } });
      expect(doc.configs).toBeUndefined();
    }
  });

  it('k3s and rke2 without a docker.io/rancher/ image in the lock: no config.yaml naming the mirror as system-default-registry (system images would be pulled from a mirror that lacks them)', async () => {
    for (const flavour of ['k3s', 'rke2']) {
      const r = await mirrorConfig(flavour, await fixtureContext(), {});
      expect(Object.keys(filesOf(r))).toEqual(['registries.yaml']);
      const doc = parseYaml(filesOf(r)['registries.yaml']);
      expect(Object.keys(doc.mirrors)).toEqual(UPSTREAMS);
      expect(r.notes.filter((n) => n.includes('system-default-registry: not written'))).toHaveLength(1);
      expect(r.notes.join('\n')).not.toContain('config.yaml: merge');
      const listed = await mirrorConfig(flavour, await withRancherImage(), {});
      expect(filesOf(listed)['config.yaml']).toContain('system-default-registry: "mirror.site.example:5000"');
    }
  });

  it('ImageDigestMirrorSet and ImageTagMirrorSet', async () => {
    const idms = parseYaml(filesOf(await mirrorConfig('idms', await fixtureContext(), {}))['image-digest-mirror-set.yaml']);
    expect(idms.kind).toBe('ImageDigestMirrorSet');
    // With a CA on the target: a ConfigMap in openshift-config keyed host..port, named by additionalTrustedCA.
    const dir = await scratch();
    await writeFile(path.join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const withCa = await fixtureContext((t) => {
      (t.registry as Record<string, unknown>).ca = 'ca.pem';
    }, path.join(dir, 'target.yaml'));
    const idmsOut = await mirrorConfig('idms', withCa, {});
    const cm = parseYaml(filesOf(idmsOut)['image-ca-configmap.yaml']);
    expect(cm).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'openshift-config' } });
    expect(Object.keys(cm.data)).toEqual(['mirror.site.example..5000']);
    expect(cm.data['mirror.site.example..5000']).toContain('BEGIN CERTIFICATE');
    expect(idmsOut.notes.join('\n')).toContain(`"additionalTrustedCA":{"name":"${cm.metadata.name}"}`);
    expect(idms.spec.imageDigestMirrors).toContainEqual({ source: 'quay.io', mirrors: ['mirror.site.example:5000/ferry/quay.io'] });
    const itms = parseYaml(filesOf(await mirrorConfig('itms', await fixtureContext(), {}))['image-tag-mirror-set.yaml']);
    expect(itms.kind).toBe('ImageTagMirrorSet');
    expect(itms.spec.imageTagMirrors).toHaveLength(UPSTREAMS.length);
  });

  it('docker: refuses a prefixed layout (Docker cannot add a path); flat + no prefix works, warning about the other registries', async () => {
    const err = await mirrorConfig('docker', await fixtureContext(), {}).catch((e) => e);
    expect(err.code).toBe('CONFLICT');
    expect(err.message).toContain('mirror.site.example:5000/ferry/docker.io');
    const ctx = await fixtureContext((t) => {
      const reg = t.registry as Record<string, unknown>;
      reg.layout = 'flat';
      delete reg.prefix;
    });
    const r = await mirrorConfig('docker', ctx, {});
    expect(JSON.parse(filesOf(r)['daemon.json'])).toEqual({ 'registry-mirrors': ['https://mirror.site.example:5000'] });
    expect(r.warnings[0]).toContain('ghcr.io, quay.io, registry.example.com:5000, registry.k8s.io');
  });

  it('output is deterministic; an unknown format is a usage error', async () => {
    const a = await mirrorConfig('containerd', await fixtureContext(), {});
    const b = await mirrorConfig('containerd', await fixtureContext(), {});
    expect(a.files).toEqual(b.files);
    await expect(mirrorConfig('cri-o', await fixtureContext(), {})).rejects.toThrow(/unknown format/);
  });
});
