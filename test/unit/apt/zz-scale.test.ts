import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { it, expect } from 'vitest';
import { streamDeb822 } from '../../../src/kinds/apt/control.js';
import { computeClosure } from '../../../src/kinds/apt/deps.js';
import { stanzaToPackage, PACKAGE_FIELDS } from '../../../src/kinds/apt/repo.js';
it('scale', async () => {
  const t0 = performance.now();
  const pkgs = [];
  for await (const st of streamDeb822(createReadStream('/tmp/debian-main-Packages.gz').pipe(createGunzip()), false, PACKAGE_FIELDS)) pkgs.push(stanzaToPackage(st, 0, 'x'));
  const t1 = performance.now();
  const r = computeClosure(pkgs, [{ whole: false, family: 'bookworm', label: 'x' }], [{ source: 0, names: ['libreoffice', 'gnome', 'texlive-full', 'kde-full'], architectures: ['amd64'] }]);
  const t2 = performance.now();
  console.log(`parsed ${pkgs.length} in ${(t1 - t0).toFixed(0)} ms; closure ${r.selected.get(0)?.size} pkgs in ${(t2 - t1).toFixed(0)} ms; unsatisfied ${r.unsatisfied.get(0)?.length ?? 0}; rss ${Math.round(process.memoryUsage().rss / 1e6)} MB`);
  expect(pkgs.length).toBe(63440);
});
