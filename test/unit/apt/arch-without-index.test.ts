import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveApt } from '../../../src/kinds/apt/resolve.js';
import { AptSpecSchema } from '../../../src/kinds/apt/spec.js';
import type { KindContext } from '../../../src/kinds/types.js';
import { HttpClient } from '../../../src/net/http.js';
import { BlobStore } from '../../../src/store/blob-store.js';
import { silentProgress } from '../../../src/ui/progress.js';
import { gpgSign, makeGpgKey } from '../../support/apt-repo.js';
import { startStaticServer, type StaticServer } from '../../support/static-http.js';

/** A suite that offers amd64 and arm64, whose main component has an index for amd64 only. */
let dir: string;
let server: StaticServer;
let keyFile: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-apt-arch-'));
  const root = path.join(dir, 'repo');
  const suite = path.join(root, 'dists', 'stable');
  await mkdir(path.join(suite, 'main', 'binary-amd64'), { recursive: true });
  const deb = Buffer.from('not really a deb');
  await mkdir(path.join(root, 'pool'), { recursive: true });
  await writeFile(path.join(root, 'pool', 'hello_1_amd64.deb'), deb);
  const packages = `Package: hello\nVersion: 1\nArchitecture: amd64\nFilename: pool/hello_1_amd64.deb\nSize: ${deb.length}\nSHA256: ${createHash('sha256').update(deb).digest('hex')}\n`;
  await writeFile(path.join(suite, 'main', 'binary-amd64', 'Packages'), packages);
  const release = `Origin: Vendor\nSuite: stable\nArchitectures: amd64 arm64\nComponents: main\nDate: Sat, 09 Nov 2024 10:00:00 UTC\nSHA256:\n ${createHash('sha256').update(packages).digest('hex')} ${packages.length} main/binary-amd64/Packages\n`;
  await writeFile(path.join(dir, 'Release'), release);
  const key = await makeGpgKey(dir, 'vendor');
  await gpgSign(key, path.join(dir, 'Release'), 'clearsign', path.join(suite, 'InRelease'));
  keyFile = key.publicKey;
  expect((await readFile(path.join(suite, 'InRelease'), 'utf8')).startsWith('-----BEGIN PGP SIGNED MESSAGE-----')).toBe(true);
  server = await startStaticServer(root);
}, 60_000);
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('an architecture the suite offers but a component has no index for', () => {
  it('is a warning naming the component and the architecture, not a silent zero', async () => {
    const store = new BlobStore(path.join(dir, 'store'));
    await store.init();
    const warnings: string[] = [];
    const ctx = { manifestDir: dir, store, progress: silentProgress, concurrency: 2, http: new HttpClient(), warnings } as unknown as KindContext;
    const spec = AptSpecSchema.parse({ name: 'vendor', url: server.url, suites: ['stable'], components: ['main'], architectures: ['amd64', 'arm64'], keys: [keyFile] });
    const [lock] = await resolveApt([spec], ctx);
    expect(lock.suites[0].packages.map((p) => p.name)).toEqual(['hello']);
    expect(warnings).toEqual(['apt[vendor] stable: main/binary-arm64 has no Packages index in the Release: no arm64 packages from main']);
  });
});
