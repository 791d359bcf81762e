import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTIVE_TERMINAL, manifestChecker, writeTree, type ManifestChecker } from '../support/convert-output.js';
import { runFerry } from '../support/cli.js';

/**
 * newuser47: what a Zarf or helmfile user still met in `ferry convert`: the package's
 * architecture (zarf package create --architecture, metadata.architecture, ###ZARF_PKG_ARCH###,
 * only.cluster.architecture), the one bounded include walk (Zarf imports, helmfile includes), and
 * a helmfile release with a local chart (its Chart.yaml dependencies), helmfile.lock and
 * missingFileHandler. Every manifest written is checked by the loader and the JSON Schema.
 */

let work: string;
let check: ManifestChecker;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-newuser47-'));
  check = await manifestChecker();
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const dirWith = (name: string, files: Record<string, string>) => writeTree(path.join(work, name), files);

interface Item { place: string; file: string; line?: number; item: string; why: string; todo: string }
interface Result { manifest: Record<string, unknown>; notCarried: Item[]; changed: Item[] }

async function convertJson(dir: string, args: string[]): Promise<Result> {
  const r = await runFerry(['convert', ...args, '--json'], { cwd: dir });
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout + r.stderr).not.toMatch(ACTIVE_TERMINAL);
  const res = JSON.parse(r.stdout) as Result;
  expect(check.schemaCheck(res.manifest)).toBe(true);
  return res;
}

const ZARF_ARCH = `kind: ZarfPackageConfig
metadata:
  name: tools
  architecture: amd64
components:
  - name: tool
    images:
      - ghcr.io/acme/tool:1.0-###ZARF_PKG_ARCH###
  - name: agent-amd64
    only:
      cluster:
        architecture: amd64
    images:
      - ghcr.io/acme/agent:1.0
  - name: agent-arm64
    only:
      cluster:
        architecture: arm64
    images:
      - ghcr.io/acme/agent-arm:1.0
  - name: shared
    import:
      path: common
`;

const COMMON = `kind: ZarfPackageConfig
metadata: {name: common}
components:
  - name: shared
    only: {cluster: {architecture: arm64}}
    images: [ghcr.io/acme/shared-arm:1]
  - name: shared
    only: {cluster: {architecture: amd64}}
    images: [ghcr.io/acme/shared-amd:1]
`;

describe('convert zarf: the package\'s architecture, as zarf package create takes it', () => {
  it('metadata.architecture: ###ZARF_PKG_ARCH### filled, images for linux/<arch>, components (and imports) of another architecture named', async () => {
    const dir = await dirWith('arch', { 'zarf.yaml': ZARF_ARCH, 'common/zarf.yaml': COMMON });
    const r = await convertJson(dir, ['zarf', 'zarf.yaml', '-o', 'manifest.yaml']);
    expect(r.manifest.images).toEqual([
      { ref: 'ghcr.io/acme/agent:1.0', platforms: ['linux/amd64'] },
      { ref: 'ghcr.io/acme/shared-amd:1', platforms: ['linux/amd64'] },
      { ref: 'ghcr.io/acme/tool:1.0-amd64', platforms: ['linux/amd64'] },
    ]);
    const arm = r.notCarried.find((n) => n.item === 'only.cluster.architecture: arm64');
    expect(arm?.place).toBe('zarf.yaml:18 (component agent-arm64)');
    expect(arm?.why).toContain('the package is converted for amd64');
    expect(arm?.todo).toContain('--arch arm64');
    await check.accepted(path.join(dir, 'manifest.yaml'));
  });

  it('--arch wins over metadata.architecture (as zarf\'s --architecture does)', async () => {
    const dir = await dirWith('arch-flag', { 'zarf.yaml': ZARF_ARCH, 'common/zarf.yaml': COMMON });
    const r = await convertJson(dir, ['zarf', 'zarf.yaml', '--arch', 'arm64']);
    expect(r.manifest.images).toEqual([
      { ref: 'ghcr.io/acme/agent-arm:1.0', platforms: ['linux/arm64'] },
      { ref: 'ghcr.io/acme/shared-arm:1', platforms: ['linux/arm64'] },
      { ref: 'ghcr.io/acme/tool:1.0-arm64', platforms: ['linux/arm64'] },
    ]);
    expect(r.notCarried.map((n) => n.item)).toEqual(['only.cluster.architecture: amd64']);
  });

  it('no architecture known: ###ZARF_PKG_ARCH### named with --arch, components of every architecture carried and named; a bad --arch refused', async () => {
    const dir = await dirWith('arch-none', { 'zarf.yaml': ZARF_ARCH.replace('  architecture: amd64\n', ''), 'common/zarf.yaml': COMMON });
    const r = await convertJson(dir, ['zarf', 'zarf.yaml']);
    expect(r.manifest.images).toEqual([{ ref: 'ghcr.io/acme/agent-arm:1.0' }, { ref: 'ghcr.io/acme/agent:1.0' }]);
    // The import has a component for each architecture: which one zarf takes is not known here.
    const imp = r.notCarried.find((n) => n.item === 'import: common');
    expect(imp?.why).toContain('several components named shared');
    expect(imp?.todo).toContain('--arch <arch>');
    const tmpl = r.notCarried.find((n) => n.item.includes('###ZARF_PKG_ARCH###'));
    expect(tmpl?.todo).toContain('--arch <arch>');
    expect(r.changed.filter((n) => n.item.startsWith('only.cluster.architecture')).map((n) => n.place)).toEqual(['zarf.yaml:11 (component agent-amd64)', 'zarf.yaml:17 (component agent-arm64)']);
    const bad = await runFerry(['convert', 'zarf', 'zarf.yaml', '--arch', 'amd64/../x'], { cwd: dir });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('not an architecture name');
    const meta = await dirWith('arch-bad-meta', { 'zarf.yaml': ZARF_ARCH.replace('architecture: amd64\ncomponents', 'architecture: "amd64 linux"\ncomponents') });
    const m = await convertJson(meta, ['zarf', 'zarf.yaml']);
    expect(m.notCarried.find((n) => n.item.startsWith('metadata.architecture'))?.place).toBe('zarf.yaml:4');
  });
});
