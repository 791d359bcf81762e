import { describe, expect, it } from 'vitest';
import { lockChanges } from '../../src/commands/lock-diff.js';
import type { Lock } from '../../src/kinds/schema.js';

const sha = (c: string) => c.repeat(64);
const apt = (packages: number, release: string) => ({
  name: 'vendor',
  suites: [{ suite: 'stable', release: [{ path: 'dists/stable/InRelease', sha256: sha(release), size: 1 }], packages: Array.from({ length: packages }, (_, i) => ({ name: `p${i}`, version: '1' })) }],
});
const lock = (body: Record<string, unknown>) => ({ images: [], charts: [], files: [], apt: [], ...body }) as unknown as Lock;

describe('what a re-lock changed', () => {
  it('names an APT suite whose signed Release changed, with its package counts and the packages that moved (a whole mirror as well)', () => {
    const changes = lockChanges(lock({ apt: [apt(3, 'a')] }), lock({ apt: [apt(4, 'b')] }));
    expect(changes).toEqual([{ kind: 'apt', change: 'updated', name: 'vendor stable', from: `3 packages (Release ${'a'.repeat(12)})`, to: `4 packages (Release ${'b'.repeat(12)}): +p3 1` }]);
  });

  it('an unchanged suite is not listed; an image moved to another digest under the same tag is', () => {
    const img = (d: string) => ({ ref: 'docker.io/library/nginx:1.25', digest: `sha256:${sha(d)}` });
    const changes = lockChanges(lock({ images: [img('1')], apt: [apt(3, 'a')] }), lock({ images: [img('2')], apt: [apt(3, 'a')] }));
    expect(changes).toEqual([{ kind: 'image', change: 'updated', name: 'docker.io/library/nginx', from: `1.25@sha256:${sha('1')}`, to: `1.25@sha256:${sha('2')}` }]);
  });
});
