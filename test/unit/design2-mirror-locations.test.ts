import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mapAptSiteKey, mirrorNamespacePath, mirrorRepositoryPath, type RegistryMapping } from '../../src/mapping/index.js';

/**
 * DESIGN.md: "One Mapping function decides where every upstream thing lives on the mirror ... none
 * of them computes a mirror location on its own." The APT site key's file names (import writes
 * them, serve serves them, rewrite sends clients to them) and the mirror path of k3s/RKE2 system
 * images (docker.io/rancher/…) are mirror locations: src/mapping names them, nothing else does.
 */
function sources(dir: string, root: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const abs = path.join(dir, e.name);
    if (e.isDirectory()) return sources(abs, root);
    return e.name.endsWith('.ts') ? [path.relative(root, abs).split(path.sep).join('/')] : [];
  });
}

const root = path.resolve(import.meta.dirname, '../..');
const outsideMapping = sources(path.join(root, 'src'), root).filter((f) => !f.startsWith('src/mapping/'));

describe('mirror locations come from src/mapping (design2)', () => {
  it('the APT site key file names are spelled only in src/mapping', () => {
    const found = outsideMapping.filter((f) => readFileSync(path.join(root, f), 'utf8').includes('ferry-archive-keyring'));
    expect(found).toEqual([]);
    expect(mapAptSiteKey('asc').path).toBe('ferry-archive-keyring.asc');
    expect(mapAptSiteKey('gpg', { baseUrl: 'https://mirror.example/apt/' })).toEqual({ path: 'ferry-archive-keyring.gpg', url: 'https://mirror.example/apt/ferry-archive-keyring.gpg' });
  });

  it('no code outside src/mapping joins a registry path prefix with a repository or namespace name', () => {
    // `${x.pathPrefix}/${name}`: a mirror path built by hand (a runtime rewrite template `${pathPrefix}/$1` is the mapping's rule written out).
    const join = /\$\{[^}]*pathPrefix\}\/\$\{/;
    const found = outsideMapping.flatMap((f) =>
      readFileSync(path.join(root, f), 'utf8')
        .split('\n')
        .flatMap((line, i) => (join.test(line) ? [`${f}:${i + 1}: ${line.trim()}`] : [])),
    );
    expect(found).toEqual([]);
  });

  it("a namespace's mirror path is the one its repositories are placed under", () => {
    for (const m of [{ layout: 'nested', prefix: 'mirror' }, { layout: 'flat', prefix: 'p/q' }, { layout: 'flat' }, { layout: 'nested', host: 'r.example:5000' }] as RegistryMapping[]) {
      const ns = mirrorNamespacePath('docker.io', 'rancher', m);
      expect(mirrorRepositoryPath({ registry: 'docker.io', repository: 'rancher/mirrored-pause' }, m)).toBe(`${ns}/mirrored-pause`);
    }
  });
});
