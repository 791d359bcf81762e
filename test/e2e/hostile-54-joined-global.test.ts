import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/audit/audit.js';
import { runFerry } from '../support/cli.js';
import { writeTree } from '../support/fs-tree.js';
import { offlineWork } from '../support/offline-lock.js';

/**
 * recall18's nearest `global` (src/audit/handed-images.ts joinedImages, used by
 * src/rewrite/joined-images.ts): Istio's charts keep their defaults, `global` too, under
 * `_internal_defaults_do_not_set` (istio/istio manifests/charts/istio-control/istio-discovery/values.yaml),
 * and lift them to the top when rendering. A bare name there joins that global's hub and tag;
 * `rewrite manifests` moves that hub when the lock carries every image joined to it, and the file
 * read back audits as mirrored.
 */
const MIRROR = 'registry.site.internal/ferry';
const LOCKED = ['docker.io/istio/pilot:1.27.1', 'docker.io/istio/proxyv2:1.27.1'];

const VALUES = [
  '_internal_defaults_do_not_set:', // 1
  '  pilot:',
  '    hub: ""',
  '    tag: ""',
  '    image: pilot', // 5
  '  global:',
  '    hub: docker.io/istio',
  '    tag: 1.27.1',
  '    proxy:',
  '      image: proxyv2', // 10
  '',
].join('\n');
/** Another global's names: one the lock lacks, so that hub stays and the image is named. */
const PARTLY = VALUES.replace('image: pilot', 'image: pilot-discovery');

let work = '';
beforeAll(async () => {
  work = await offlineWork('ferry-h54-joined-', LOCKED);
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a global below the top (_internal_defaults_do_not_set) in rewrite manifests', () => {
  it('the hub moves when every image joined to it is carried; read back, audit joins them to the mirror hub', async () => {
    await writeTree(path.join(work, 'rw'), { 'values.yaml': VALUES, 'partly.yaml': PARTLY });
    const r = await runFerry(['rewrite', 'manifests', 'rw', '-t', 't.yaml', '--lock', 'm.lock.json', '--allow-unmapped', '--json'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const moved = await readFile(path.join(work, 'rw/values.yaml'), 'utf8');
    expect(moved).toBe(VALUES.replace('hub: docker.io/istio', `hub: ${MIRROR}/docker.io/istio`));
    // The other file's hub stays; the image the lock lacks is named at its name's line.
    expect(await readFile(path.join(work, 'rw/partly.yaml'), 'utf8')).toBe(PARTLY);
    const out = JSON.parse(r.stdout) as { unmapped: Array<{ file: string; line: number; ref: string; reason: string }> };
    expect(out.unmapped.map((u) => `${path.basename(u.file)}:${u.line} ${u.ref}`)).toEqual(['partly.yaml:5 docker.io/istio/pilot-discovery:1.27.1']);
    expect(out.unmapped[0].reason).toContain('the hub docker.io/istio stays');

    // Read back: the rewritten file's joined names are the mirror's images (internal: on the site).
    const a = await runFerry(['audit', 'rw/values.yaml', '--manifest', 'm.yaml', '--target', 't.yaml', '--format', 'json'], { cwd: work });
    expect(a.code, a.stderr).toBe(0);
    const images = (JSON.parse(a.stdout) as AuditReport).findings.filter((f) => f.kind === 'image').map((f) => `${f.line} ${f.value} ${f.class}`);
    expect(images.sort()).toEqual([`10 ${MIRROR}/docker.io/istio/proxyv2:1.27.1 internal`, `5 ${MIRROR}/docker.io/istio/pilot:1.27.1 internal`]);
  }, 60_000);
});
