import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TAR_END, tarHeader, tarPadding } from '../../src/store/tar-index.js';
import { runFerry } from '../support/cli.js';

/**
 * The lock a bundle carries (ferry/lock.json, checksums matching) crafted: terminal escapes,
 * C1 controls, bidi overrides and HTML in names and URLs, a chart repository that is no URL; and
 * a differential list nested too deep to quote. Each command ends in a clear error or clean
 * output, never a crash, and output meant for a parser still parses.
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile4-lock-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const EVIL = '\x1b]0;pwned\x07\x1b[2J\u009b31m\u202e<script>alert(1)</script>';

async function bundle(name: string, lock: object | string, extra: Record<string, string> = {}): Promise<string> {
  const files = new Map<string, Buffer>([
    ['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')],
    ['ferry/bundle.json', Buffer.from('{"formatVersion":1,"ferryVersion":"0.1.0","manifestName":"x"}')],
    ['ferry/lock.json', Buffer.from(typeof lock === 'string' ? lock : JSON.stringify(lock))],
    ...Object.entries(extra).map(([k, v]) => [k, Buffer.from(v)] as [string, Buffer]),
    ['index.json', Buffer.from('{"schemaVersion":2,"manifests":[]}')],
  ]);
  files.set(
    'ferry/checksums.sha256',
    Buffer.from(
      [...files]
        .map(([k, b]) => `${hex(b)}  ${k}\n`)
        .sort()
        .join(''),
    ),
  );
  const file = path.join(dir, name);
  await writeFile(file, Buffer.concat([...[...files].flatMap(([k, b]) => [tarHeader(k, b.length, 'file'), b, tarPadding(b.length)]), TAR_END]));
  return file;
}

const lockWith = (fields: object) => ({ apiVersion: 'ferry/v1alpha1', kind: 'Lock', manifest: { name: 'x', digest: `sha256:${'0'.repeat(64)}` }, images: [], ...fields });
const chart = (repo: string) => ({ name: 'c', repo, version: '1.0.0', requested: '1', source: 'http', url: 'https://charts.example.com/c-1.0.0.tgz', digest: `sha256:${'d'.repeat(64)}`, size: 5, images: [] });
const noCrash = (stderr: string) => expect(stderr).not.toMatch(/unexpected error|This is a bug|\n\s+at /);

describe('a crafted lock inside a bundle', () => {
  it('sbom to stdout: names with C1 controls and bidi overrides stay valid JSON (escaped as \\u009b, not \\x9b), with nothing a terminal acts on', async () => {
    const tar = await bundle('sbom.tar', lockWith({ files: [{ name: `f${EVIL}`, url: `https://example.com/f${EVIL}`, sha256: 'b'.repeat(64), size: 3 }] }));
    for (const format of ['cyclonedx', 'spdx']) {
      const r = await runFerry(['sbom', tar, '--format', format]);
      expect(r.code, r.stderr).toBe(0);
      // eslint-disable-next-line no-control-regex
      expect(r.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
      const doc = JSON.parse(r.stdout) as { components?: Array<{ name: string }>; packages?: Array<{ name: string }> };
      expect((doc.components ?? doc.packages)!.map((c) => c.name)).toContain(`f${EVIL}`);
    }
    const out = path.join(dir, 'sbom.json');
    const w = await runFerry(['sbom', tar, '-o', out]);
    expect(w.code, w.stderr).toBe(0);
    expect(JSON.parse(await readFile(out, 'utf8')).components[0].name).toBe(`f${EVIL}`);
  });

  it('map --bundle with a chart repository that is no URL: a clear error naming the chart and the repository, not a crash', async () => {
    const tar = await bundle('map.tar', lockWith({ charts: [chart(`https://charts.example.com${EVIL}`)] }));
    await writeFile(path.join(dir, 'target.yaml'), 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: t }\nregistry: { url: "https://mirror.example.com" }\n');
    const r = await runFerry(['map', tar, '--target', path.join(dir, 'target.yaml')]);
    noCrash(r.stderr);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/chart "c": repository "https:\/\/charts\.example\.com\\u001b\]0;pwned\\u0007.*" is neither an http\(s\) URL nor oci:\/\//);
    // eslint-disable-next-line no-control-regex
    expect(r.stderr).not.toMatch(/[\u001b\u0007\u009b\u202e]/);
  });

  it('map --bundle with file URLs that do not parse, or whose %-escapes are malformed: a clear error naming the URL, not a crash', async () => {
    for (const url of ['not a url', 'https://example.com/%zz']) {
      const tar = await bundle('map-url.tar', lockWith({ files: [{ name: 'a', url, sha256: 'c'.repeat(64), size: 3 }] }));
      await writeFile(path.join(dir, 'target-files.yaml'), 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: t }\nfiles: { dir: ./files, baseUrl: "https://files.example.com" }\n');
      const r = await runFerry(['map', tar, '--target', path.join(dir, 'target-files.yaml')]);
      noCrash(r.stderr);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${JSON.stringify(url)}: not a URL (or a %-escape in its path is malformed); it has no place on the mirror`);
    }
  });

  it('map --bundle with an image reference that does not parse: the error names the lock in the bundle and the entry', async () => {
    const image = { source: 'x', ref: `bad ref${EVIL}`, digest: `sha256:${'a'.repeat(64)}`, mediaType: 'application/vnd.oci.image.index.v1+json', size: 1, manifests: [], blobs: [] };
    const tar = await bundle('map-img.tar', lockWith({ images: [image] }));
    await writeFile(path.join(dir, 'target.yaml'), 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: t }\nregistry: { url: "https://mirror.example.com" }\n');
    const r = await runFerry(['map', tar, '--target', path.join(dir, 'target.yaml')]);
    noCrash(r.stderr);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('ferry/lock.json');
    // eslint-disable-next-line no-control-regex
    expect(r.stderr).not.toMatch(/[\u001b\u0007\u009b\u202e]/);
  });

  it('a differential list whose entry is nested 100 000 deep: bundle verify and serve --base end in a clear error, not a crash', async () => {
    const d = 100_000;
    const diff = `{"base":{"kind":"bundle","name":"b","digest":"sha256:${'1'.repeat(64)}"},"omitted":[${'['.repeat(d)}${']'.repeat(d)}]}`;
    const tar = await bundle('deep.tar', lockWith({}), { 'ferry/differential.json': diff });
    const base = await bundle('base.tar', lockWith({}));
    const v = await runFerry(['bundle', 'verify', tar]);
    noCrash(v.stderr);
    expect(v.code).toBe(3);
    expect(v.stderr).toMatch(/ferry\/differential\.json: omitted\[0\] is not \{ digest: sha256:<64 hex>, size: <bytes> \}/);
    const s = await runFerry(['serve', tar, '--base', base, '--listen', '127.0.0.1:0'], { timeoutMs: 30_000 });
    noCrash(s.stderr);
    expect(s.code).toBe(3);
    expect(s.stderr).toMatch(/deep\.tar: ferry\/differential\.json: omitted\[0\] is not/);
  });
});
