// Writes a small upstream for the demo: an OCI image layout with real gzip'd tar layers —
// a two-platform index, and images sharing a base layer — annotated with their names.
// No network, no docker: node's zlib + crypto and the `tar` package.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar';

const sha = (b) => 'sha256:' + createHash('sha256').update(b).digest('hex');

async function layerFrom(files) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-demo-layer-'));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.join(dir, path.dirname(name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
  const tarFile = path.join(dir, '..', path.basename(dir) + '.tar');
  await tar.create({ file: tarFile, cwd: dir, portable: true, mtime: new Date(0), noDirRecurse: false }, Object.keys(files));
  const raw = await readFile(tarFile);
  await rm(dir, { recursive: true, force: true });
  await rm(tarFile, { force: true });
  const gz = gzipSync(raw, { level: 9 });
  gz[9] = 3; // OS byte fixed to Unix so the bytes do not depend on where the demo runs
  return { gz, diffId: sha(raw) };
}

export async function makeUpstream(root) {
  await mkdir(path.join(root, 'blobs', 'sha256'), { recursive: true });
  const put = async (bytes) => {
    const d = sha(bytes);
    await writeFile(path.join(root, 'blobs', 'sha256', d.slice(7)), bytes);
    return { digest: d, size: bytes.length };
  };
  const base = await layerFrom({ 'etc/os-release': 'NAME=ferry-demo\nVERSION=1\n', 'bin/readme.txt': 'base layer shared by every demo image\n' });
  const baseDesc = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...(await put(base.gz)) };

  async function image(arch, appFiles) {
    const app = await layerFrom(appFiles);
    const appDesc = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...(await put(app.gz)) };
    const config = Buffer.from(JSON.stringify({
      architecture: arch, os: 'linux',
      config: { Cmd: ['/bin/sh', '-c', 'cat /app/message.txt'] },
      rootfs: { type: 'layers', diff_ids: [base.diffId, app.diffId] },
    }));
    const configDesc = { mediaType: 'application/vnd.oci.image.config.v1+json', ...(await put(config)) };
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configDesc, layers: [baseDesc, appDesc] }));
    return { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...(await put(manifest)), platform: { architecture: arch, os: 'linux' } };
  }
  async function multi(name, archs) {
    const children = [];
    for (const a of archs) children.push(await image(a, { 'app/message.txt': `hello from ${name} on ${a}\n` }));
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: children }));
    return { mediaType: 'application/vnd.oci.image.index.v1+json', ...(await put(index)) };
  }
  const refs = [];
  const ann = (name) => ({ 'org.opencontainers.image.ref.name': name });
  const hello = await multi('hello', ['amd64', 'arm64']);
  refs.push({ ...hello, annotations: ann('demo.upstream/library/hello:1.0') });
  const tools = await multi('tools', ['amd64', 'arm64']);
  refs.push({ ...tools, annotations: ann('demo.upstream/library/tools:0.3') });
  const api = await image('amd64', { 'app/message.txt': 'team api 2.1\n', 'app/config.json': '{"listen": ":8080"}\n' });
  const { platform: _p, ...apiDesc } = api;
  refs.push({ ...apiDesc, annotations: ann('demo.upstream/team/api:2.1') });
  await writeFile(path.join(root, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(path.join(root, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: refs }, null, 2));
  return refs;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const refs = await makeUpstream(path.resolve(process.argv[2] ?? 'demo-upstream'));
  for (const r of refs) console.log(`${r.annotations['org.opencontainers.image.ref.name']}  ${r.digest}`);
}

/**
 * Push the layout `makeUpstream` wrote into a registry (`http://host:port`) with the plain
 * distribution API: blobs, then child manifests, then the index, the tag last.
 * Repository and tag come from each descriptor's ref.name (`demo.upstream/<repo>:<tag>`).
 */
export async function pushLayout(root, registryUrl) {
  const index = JSON.parse(await readFile(path.join(root, 'index.json'), 'utf8'));
  const blob = (d) => readFile(path.join(root, 'blobs', 'sha256', d.slice(7)));
  const check = async (res, what) => {
    if (!res.ok) throw new Error(`push ${what}: ${res.status} ${await res.text()}`);
  };
  async function putBlob(repo, desc) {
    if ((await fetch(`${registryUrl}/v2/${repo}/blobs/${desc.digest}`, { method: 'HEAD' })).ok) return;
    const start = await fetch(`${registryUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    await check(start, `${repo} upload`);
    const loc = new URL(start.headers.get('location'), registryUrl);
    loc.searchParams.set('digest', desc.digest);
    await check(await fetch(loc, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: await blob(desc.digest) }), `${repo} ${desc.digest}`);
  }
  async function putManifest(repo, desc, reference) {
    const bytes = await blob(desc.digest);
    const m = JSON.parse(bytes.toString('utf8'));
    if (m.manifests) for (const child of m.manifests) await putManifest(repo, child, child.digest);
    else for (const b of [m.config, ...m.layers]) await putBlob(repo, b);
    await check(await fetch(`${registryUrl}/v2/${repo}/manifests/${reference}`, { method: 'PUT', headers: { 'content-type': desc.mediaType }, body: bytes }), `${repo}:${reference}`);
  }
  for (const desc of index.manifests) {
    const name = desc.annotations['org.opencontainers.image.ref.name'].replace(/^demo\.upstream\//, '');
    const [repo, tag] = name.split(':');
    await putManifest(repo, desc, tag);
  }
}
