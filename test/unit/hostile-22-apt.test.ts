/**
 * Hostile pass 21, Ubuntu-style APT (src/kinds/apt/resolve.ts `elsewhere`): a requested package
 * missing from its own entry is looked for in the other entries of the same release (Ubuntu's
 * -security on its own host). That look scanned every package of every source for each missing
 * name: a manifest asking for tens of thousands of names that a large index of another entry
 * lists last (or nowhere) was names × packages (and names × names checking the closure's missing
 * lists). Now by name, built once.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveApt } from '../../src/kinds/apt/resolve.js';
import { AptSpecSchema } from '../../src/kinds/apt/spec.js';
import type { KindContext } from '../../src/kinds/types.js';
import { HttpClient } from '../../src/net/http.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { silentProgress } from '../../src/ui/progress.js';
import { gpgSign, makeGpgKey } from '../support/apt-repo.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

const OTHERS = 200_000;
const ASKED = 40_000;
let dir: string;
let server: StaticServer;
let keyFile: string;

async function suite(root: string, name: string, packages: string, key: Awaited<ReturnType<typeof makeGpgKey>>) {
  const d = path.join(root, 'dists', name);
  await mkdir(path.join(d, 'main', 'binary-amd64'), { recursive: true });
  await writeFile(path.join(d, 'main', 'binary-amd64', 'Packages'), packages);
  const release = `Origin: Ubuntu\nSuite: ${name}\nArchitectures: amd64\nComponents: main\nDate: Sat, 09 Nov 2024 10:00:00 UTC\nSHA256:\n ${createHash('sha256').update(packages).digest('hex')} ${Buffer.byteLength(packages)} main/binary-amd64/Packages\n`;
  await writeFile(path.join(dir, `Release-${name}`), release);
  await gpgSign(key, path.join(dir, `Release-${name}`), 'clearsign', path.join(d, 'InRelease'));
}

const stanza = (name: string) => `Package: ${name}\nVersion: 1\nArchitecture: amd64\nFilename: pool/${name}_1_amd64.deb\nSize: 1\nSHA256: ${'0'.repeat(64)}\n`;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-h22-apt-'));
  const root = path.join(dir, 'repo');
  const key = await makeGpgKey(dir, 'ubuntu');
  keyFile = key.publicKey;
  await suite(path.join(root, 'ubuntu'), 'noble', stanza('hello'), key);
  // -security lists the asked names after a large index of others.
  const security = [...Array.from({ length: OTHERS }, (_, i) => stanza(`other${i}`)), ...Array.from({ length: ASKED }, (_, i) => stanza(`asked${i}`))].join('\n');
  await suite(path.join(root, 'security'), 'noble-security', security, key);
  server = await startStaticServer(root);
}, 120_000);
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('hostile-22: a requested package found in another entry of the release', () => {
  it('is looked up by name: 40 000 asked names, each last in a 240 000-package index', async () => {
    const store = new BlobStore(path.join(dir, 'store'));
    await store.init();
    const ctx = { manifestDir: dir, store, progress: silentProgress, concurrency: 2, http: new HttpClient(), warnings: [] } as unknown as KindContext;
    const asked = Array.from({ length: ASKED }, (_, i) => `asked${i}`);
    const main = AptSpecSchema.parse({ name: 'ubuntu', url: `${server.url}/ubuntu`, suites: ['noble'], components: ['main'], architectures: ['amd64'], keys: [keyFile], packages: ['hello', ...asked] });
    const security = AptSpecSchema.parse({ name: 'security', url: `${server.url}/security`, suites: ['noble-security'], components: ['main'], architectures: ['amd64'], keys: [keyFile], packages: ['other0'] });
    const locks = await resolveApt([main, security], ctx);
    expect(locks.find((l) => l.name === 'ubuntu')!.suites[0].packages.map((p) => p.name)).toEqual(['hello']);
    expect(locks.find((l) => l.name === 'security')!.suites[0].packages.map((p) => p.name)).toEqual(['other0']);
  });

  it('still names a package no entry of the release has, nor one of another architecture or version', async () => {
    const store = new BlobStore(path.join(dir, 'store2'));
    await store.init();
    const ctx = { manifestDir: dir, store, progress: silentProgress, concurrency: 2, http: new HttpClient(), warnings: [] } as unknown as KindContext;
    const main = AptSpecSchema.parse({ name: 'ubuntu', url: `${server.url}/ubuntu`, suites: ['noble'], components: ['main'], architectures: ['amd64'], keys: [keyFile], packages: ['hello', 'asked1', 'nowhere', 'asked2=2'] });
    const security = AptSpecSchema.parse({ name: 'security', url: `${server.url}/security`, suites: ['noble-security'], components: ['main'], architectures: ['amd64'], keys: [keyFile], packages: ['other0'] });
    const err = await resolveApt([main, security], ctx).catch((e: Error & { details?: string[] }) => e);
    expect((err as { details?: string[] }).details?.join('\n')).toMatch(/nowhere is not in/);
    expect((err as { details?: string[] }).details?.join('\n')).toMatch(/asked2=2 is not in/);
    expect((err as { details?: string[] }).details).toHaveLength(2);
  });
});
