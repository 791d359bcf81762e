import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { offlineWork } from '../support/offline-lock.js';

/**
 * A `.env` line built from a shell variable (`REG=${HOST}`, HOST set nowhere the scan sees) sets REG
 * to a value ferry cannot know; Compose then never takes a default written with REG
 * (`${REG:-ghcr.io}`). `audit` says so (recall10); `rewrite manifests` interpolated the image with the
 * default all the same and rewrote it as if it pulled `ghcr.io/acme/app:1.0`.
 */
let work: string;
beforeAll(async () => {
  work = await offlineWork('ferry-e2e-rewrite-env-unknown-', ['ghcr.io/acme/app:1.0']);
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('rewrite manifests: a .env value set from the shell', () => {
  it('an image whose variable the .env sets from the shell is left as written and named, not moved as its default', async () => {
    const dir = path.join(work, 'stack');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, '.env'), 'REG=${HOST}\n');
    const compose = 'services:\n  a:\n    image: ${REG:-ghcr.io}/acme/app:1.${MINOR:-0}\n';
    await writeFile(path.join(dir, 'compose.yaml'), compose);
    const r = await runFerry(['rewrite', 'manifests', dir, '-t', 't.yaml', '--lock', 'm.lock.json', '--allow-unmapped'], { cwd: work });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await readFile(path.join(dir, 'compose.yaml'), 'utf8')).toBe(compose);
    expect(r.stdout + r.stderr).toContain('REG');
    expect(r.stdout + r.stderr).not.toContain('pulled as ghcr.io/acme/app:1.0');
  });
});
