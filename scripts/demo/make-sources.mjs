// The demo's other upstreams, made here with no network: a Helm chart repository (a chart whose
// values name the demo's images), a download with a gpg-signed SHA256SUMS, and a signed APT
// repository of packages built with dpkg-deb. Keys are made by gpg in a private GNUPGHOME.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar';

const exec = promisify(execFile);
const sha256 = (b) => createHash('sha256').update(b).digest('hex');
/** The date every generated file carries, so the same demo writes the same bytes. */
export const DEMO_EPOCH = 1767225600; // 2026-01-01T00:00:00Z

function gzipFixed(raw) {
  const gz = gzipSync(raw, { level: 9 });
  gz[9] = 3; // OS byte fixed to Unix: the bytes do not depend on where the demo runs
  return gz;
}

async function tarGz(cwd, names) {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-demo-tar-'));
  const file = path.join(tmp, 'out.tar');
  await tar.create({ file, cwd, portable: true, mtime: new Date(DEMO_EPOCH * 1000) }, names);
  const raw = await readFile(file);
  await rm(tmp, { recursive: true, force: true });
  return gzipFixed(raw);
}

// ---------- OpenPGP keys (gpg) ----------

export async function makeGpgKey(dir, name) {
  const home = path.join(dir, `gnupg-${name}`);
  await mkdir(home, { recursive: true, mode: 0o700 });
  const env = { ...process.env, GNUPGHOME: home };
  const gpg = (args) => exec('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { env, maxBuffer: 1 << 24 });
  await gpg(['--quick-gen-key', `${name} <${name}@demo.invalid>`, 'rsa2048', 'sign', 'never']);
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec((await gpg(['--with-colons', '--list-secret-keys'])).stdout)[1];
  const publicKey = path.join(dir, `${name}.asc`);
  const secretKey = path.join(dir, `${name}.secret.asc`);
  const keyring = path.join(dir, `${name}.gpg`);
  await writeFile(publicKey, (await gpg(['--armor', '--export', fingerprint])).stdout);
  await writeFile(secretKey, (await gpg(['--armor', '--export-secret-keys', fingerprint])).stdout);
  await exec('gpg', ['--batch', '--yes', '--output', keyring, '--export', fingerprint], { env });
  return {
    name,
    fingerprint,
    publicKey,
    secretKey,
    keyring,
    sign: (file, out, mode) => gpg(['--yes', '--local-user', fingerprint, ...(mode === 'clearsign' ? ['--clearsign'] : ['--armor', '--detach-sign']), '--output', out, file]),
  };
}

// ---------- Helm chart repository ----------

/** demo-app 0.1.0: values name the demo's images; a template uses them. Returns the repo dir. */
export async function writeChartRepo(srv, upstreamHost) {
  const repo = path.join(srv, 'charts');
  const src = path.join(srv, '.chart-src');
  const chart = path.join(src, 'demo-app');
  await mkdir(path.join(chart, 'templates'), { recursive: true });
  await writeFile(path.join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: demo-app\nversion: 0.1.0\nappVersion: "1.0"\ndescription: The demo application (hello web front, api back end)\n');
  await writeFile(
    path.join(chart, 'values.yaml'),
    [
      '# Defaults of the demo chart: the images live on the upstream registry.',
      'image:',
      `  registry: ${upstreamHost}`,
      '  repository: library/hello',
      '  tag: "1.0"',
      'api:',
      `  image: ${upstreamHost}/team/api:2.1`,
      'telemetry:',
      '  enabled: false',
      '',
    ].join('\n'),
  );
  await writeFile(
    path.join(chart, 'templates', 'deployment.yaml'),
    [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata:',
      '  name: {{ .Release.Name }}-demo-app',
      'spec:',
      '  template:',
      '    spec:',
      '      containers:',
      '        - name: hello',
      '          image: "{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}"',
      '        - name: api',
      '          image: {{ .Values.api.image | quote }}',
      '',
    ].join('\n'),
  );
  await mkdir(repo, { recursive: true });
  const tgz = await tarGz(src, ['demo-app']);
  await writeFile(path.join(repo, 'demo-app-0.1.0.tgz'), tgz);
  await writeFile(
    path.join(repo, 'index.yaml'),
    [
      'apiVersion: v1',
      'entries:',
      '  demo-app:',
      '    - apiVersion: v2',
      '      name: demo-app',
      '      version: 0.1.0',
      '      appVersion: "1.0"',
      '      description: The demo application (hello web front, api back end)',
      `      digest: ${sha256(tgz)}`,
      '      urls: [demo-app-0.1.0.tgz]',
      'generated: "2026-01-01T00:00:00Z"',
      '',
    ].join('\n'),
  );
  await rm(src, { recursive: true, force: true });
  return { dir: repo, archiveSha256: sha256(tgz) };
}

// ---------- a download with a signed SHA256SUMS ----------

export async function writeDownloads(srv, vendor) {
  const dir = path.join(srv, 'downloads', '1.0');
  const src = path.join(srv, '.tool-src');
  await mkdir(path.join(src, 'demo-tool'), { recursive: true });
  await writeFile(path.join(src, 'demo-tool', 'demo-tool.sh'), '#!/bin/sh\necho "demo-tool 1.0: carried across the gap"\n');
  await mkdir(dir, { recursive: true });
  const tgz = await tarGz(src, ['demo-tool']);
  await rm(src, { recursive: true, force: true });
  await writeFile(path.join(dir, 'demo-tool-1.0.tar.gz'), tgz);
  await writeFile(path.join(dir, 'SHA256SUMS'), `${sha256(tgz)}  demo-tool-1.0.tar.gz\n`);
  await vendor.sign(path.join(dir, 'SHA256SUMS'), path.join(dir, 'SHA256SUMS.gpg'), 'detach');
  return { sha256: sha256(tgz) };
}

// ---------- a signed APT repository ----------

const DEBS = [
  { Package: 'demo-base', Version: '1.0', Architecture: 'all', Description: 'files every demo host needs' },
  { Package: 'demo-hello', Version: '1.0', Architecture: 'amd64', Depends: 'demo-base (>= 1.0)', Description: 'the demo host agent' },
  { Package: 'demo-extra', Version: '2.0', Architecture: 'amd64', Description: 'not needed: the manifest does not ask for it' },
];

export async function writeAptRepo(srv, vendor) {
  const root = path.join(srv, 'apt');
  const build = path.join(srv, '.deb-src');
  const stanzas = [];
  for (const d of DEBS) {
    const pkgDir = path.join(build, d.Package);
    await mkdir(path.join(pkgDir, 'DEBIAN'), { recursive: true });
    await mkdir(path.join(pkgDir, 'usr/share/doc', d.Package), { recursive: true });
    await writeFile(path.join(pkgDir, 'usr/share/doc', d.Package, 'README'), `${d.Package} ${d.Version}: ${d.Description}\n`);
    const control = [`Package: ${d.Package}`, `Version: ${d.Version}`, `Architecture: ${d.Architecture}`, 'Maintainer: ferry demo <demo@demo.invalid>', ...(d.Depends ? [`Depends: ${d.Depends}`] : []), `Description: ${d.Description}`, ''].join('\n');
    await writeFile(path.join(pkgDir, 'DEBIAN', 'control'), control);
    const rel = `pool/main/${d.Package[0]}/${d.Package}/${d.Package}_${d.Version}_${d.Architecture}.deb`;
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await exec('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', pkgDir, path.join(root, rel)], { env: { ...process.env, SOURCE_DATE_EPOCH: String(DEMO_EPOCH) } });
    const deb = await readFile(path.join(root, rel));
    stanzas.push(`${control.trimEnd()}\nFilename: ${rel}\nSize: ${deb.length}\nSHA256: ${sha256(deb)}\n`);
  }
  await rm(build, { recursive: true, force: true });
  const dists = path.join(root, 'dists', 'stable');
  const bin = path.join(dists, 'main', 'binary-amd64');
  await mkdir(bin, { recursive: true });
  const packages = Buffer.from(stanzas.join('\n'));
  const packagesGz = gzipFixed(packages);
  await writeFile(path.join(bin, 'Packages'), packages);
  await writeFile(path.join(bin, 'Packages.gz'), packagesGz);
  const release = [
    'Origin: demo-vendor',
    'Label: demo-vendor',
    'Suite: stable',
    'Codename: stable',
    'Date: Thu, 01 Jan 2026 00:00:00 UTC',
    'Architectures: amd64',
    'Components: main',
    'Description: the demo vendor repository',
    'SHA256:',
    ` ${sha256(packages)} ${packages.length} main/binary-amd64/Packages`,
    ` ${sha256(packagesGz)} ${packagesGz.length} main/binary-amd64/Packages.gz`,
    '',
  ].join('\n');
  await writeFile(path.join(dists, 'Release'), release);
  await vendor.sign(path.join(dists, 'Release'), path.join(dists, 'InRelease'), 'clearsign');
  await vendor.sign(path.join(dists, 'Release'), path.join(dists, 'Release.gpg'), 'detach');
  return { packages: DEBS.map((d) => d.Package) };
}
