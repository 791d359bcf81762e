/**
 * `audit` of Docker Compose stacks (newuser24's leftover): a carried image was "mirrored"
 * wherever it was written, on the assumption that the runtime sends its pulls to the mirror. On a
 * Docker host that is false for every registry but Docker Hub (dockerd's registry-mirrors mirror
 * Docker Hub alone), and for Docker Hub too unless the mirror keeps its paths at the root (layout
 * flat, no prefix), so a Compose file still naming ghcr.io came out clean while dockerd would pull
 * across the gap. Now such a reference is not mirrored and says why and what to run; a values file
 * with the same keys, a runtime mirror for the host in the scan, a flat Docker Hub mirror and a
 * Compose file after `rewrite manifests` stay as they were.
 */
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-audit-compose-'));
  await writeFile(
    path.join(work, 'm.yaml'),
    'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: c }\nimages:\n  - ref: ghcr.io/acme/web:1.4\n  - ref: docker.io/library/redis:7\n',
  );
  const target = (layout: string) =>
    `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nregistry: { url: https://registry.site.internal, layout: ${layout} }\n`;
  await writeFile(path.join(work, 'nested.yaml'), target('nested'));
  await writeFile(path.join(work, 'flat.yaml'), target('flat'));
  const compose = 'services:\n  web:\n    image: ghcr.io/acme/web:1.4\n  cache:\n    image: redis:7\n  app:\n    build: .\n';
  await mkdir(path.join(work, 'stack'));
  await writeFile(path.join(work, 'stack', 'compose.yaml'), compose);
  await mkdir(path.join(work, 'chart'));
  await writeFile(path.join(work, 'chart', 'values.yaml'), compose);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

interface Finding {
  file: string;
  value: string;
  class: string;
  note?: string;
}
async function audit(paths: string[], target: string): Promise<Finding[]> {
  const r = await runFerry(['audit', ...paths, '--manifest', 'm.yaml', '-t', target, '--json'], { cwd: work });
  expect(r.stderr).not.toMatch(/internal|unexpected/i);
  return (JSON.parse(r.stdout) as { findings: Finding[] }).findings;
}
const classOf = (fs: Finding[], file: string, value: string) => fs.find((f) => f.file === file && f.value === value);

describe('audit of a Compose stack on Docker hosts', () => {
  it('a carried ghcr.io image in compose.yaml still goes out (dockerd mirrors Docker Hub alone); the same keys in values.yaml are mirrored', async () => {
    const fs = await audit(['stack', 'chart'], 'nested.yaml');
    const web = classOf(fs, 'stack/compose.yaml', 'ghcr.io/acme/web:1.4')!;
    expect(web.class).toBe('undeclared');
    expect(web.note).toMatch(/Docker's registry-mirrors mirror Docker Hub alone, so dockerd pulls it from ghcr\.io as written/);
    expect(web.note).toMatch(/ferry rewrite manifests.*registry\.site\.internal\/ghcr\.io\/acme\/web:1\.4/);
    expect(classOf(fs, 'chart/values.yaml', 'ghcr.io/acme/web:1.4')!.class).toBe('mirrored');
  });

  it('Docker Hub through registry-mirrors: mirrored only where the mirror keeps its paths at the root (flat)', async () => {
    const nested = classOf(await audit(['stack'], 'nested.yaml'), 'stack/compose.yaml', 'redis:7')!;
    expect(nested.class).toBe('undeclared');
    expect(nested.note).toMatch(/ask the mirror for library\/redis at its root, but the mirror keeps it at registry\.site\.internal\/docker\.io\/library\/redis:7/);
    const flat = await audit(['stack'], 'flat.yaml');
    expect(classOf(flat, 'stack/compose.yaml', 'redis:7')!.class).toBe('mirrored');
    expect(classOf(flat, 'stack/compose.yaml', 'ghcr.io/acme/web:1.4')!.class).toBe('undeclared');
  });

  it('a containerd hosts.toml for ghcr.io in the scan (nerdctl compose) sends it to the mirror', async () => {
    const dir = path.join(work, 'with-hosts');
    await cp(path.join(work, 'stack'), path.join(dir, 'stack'), { recursive: true });
    await mkdir(path.join(dir, 'certs.d', 'ghcr.io'), { recursive: true });
    await writeFile(path.join(dir, 'certs.d', 'ghcr.io', 'hosts.toml'), 'server = "https://ghcr.io"\n\n[host."https://registry.site.internal/v2/ghcr.io"]\n  capabilities = ["pull", "resolve"]\n  override_path = true\n');
    const web = classOf(await audit(['with-hosts'], 'nested.yaml'), 'with-hosts/stack/compose.yaml', 'ghcr.io/acme/web:1.4')!;
    expect(web.class).toBe('mirrored');
  });

  it('the Compose file written as the note says (what rewrite manifests writes) sends nothing out', async () => {
    await mkdir(path.join(work, 'rewritten'));
    await writeFile(path.join(work, 'rewritten', 'compose.yaml'), 'services:\n  web:\n    image: registry.site.internal/ghcr.io/acme/web:1.4\n  cache:\n    image: registry.site.internal/docker.io/library/redis:7\n');
    const fs = await audit(['rewritten'], 'nested.yaml');
    expect(fs.filter((f) => f.file === 'rewritten/compose.yaml').map((f) => f.class)).toEqual(['internal', 'internal']);
  });
});
