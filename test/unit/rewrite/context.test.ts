import { describe, expect, it } from 'vitest';
import { LockSchema } from '../../../src/kinds/schema.js';
import { createRewriteContext } from '../../../src/rewrite/context.js';
import { CTRL_DIGEST, CTRL_STORED, fixtureContext, fixtureLock, fixtureTarget } from './helpers.js';

describe('rewrite context (lock + target through the one mapping)', () => {
  it('maps tag, digest and repository-only references; the stored digest replaces a filtered one', async () => {
    const ctx = await fixtureContext();
    expect(ctx.lookupImage('nginx:1.27')).toMatchObject({ status: 'mapped', mirror: 'mirror.site.example:5000/ferry/docker.io/library/nginx:1.27' });
    expect(ctx.lookupImage(`registry.k8s.io/ingress-nginx/controller@${CTRL_DIGEST}`)).toMatchObject({
      status: 'mapped',
      digestChanged: true,
      mirror: `mirror.site.example:5000/ferry/registry.k8s.io/ingress-nginx/controller@${CTRL_STORED}`,
    });
    expect(ctx.lookupImage('ghcr.io/example/app')).toMatchObject({ status: 'mapped', mirror: 'mirror.site.example:5000/ferry/ghcr.io/example/app' });
    expect(ctx.lookupImage('mirror.site.example:5000/ferry/docker.io/library/nginx:1.27')).toEqual({ status: 'mirror' });
    expect(ctx.lookupImage('docker.io/library/postgres:16')).toEqual({ status: 'unmapped', reason: 'repository not in the lock' });
    expect(ctx.registries).toEqual(['docker.io', 'ghcr.io', 'quay.io', 'registry.example.com:5000', 'registry.k8s.io']);
  });

  it('refuses a flat layout on which two upstream repositories collide, as import does', async () => {
    const lock = await fixtureLock();
    const extra = LockSchema.parse({ ...lock, images: [...lock.images, { ...lock.images[0], source: 'quay.io/library/nginx:1.27', ref: 'quay.io/library/nginx:1.27' }] });
    const target = await fixtureTarget((t) => ((t.registry as Record<string, unknown>).layout = 'flat'));
    expect(() => createRewriteContext(target, extra)).toThrow(/docker.io\/library\/nginx and quay.io\/library\/nginx both map to ferry\/library\/nginx|mapping collision/);
  });

  it('a target without a registry covers no image', async () => {
    const ctx = await fixtureContext((t) => delete t.registry);
    expect(ctx.lookupImage('nginx:1.27')).toMatchObject({ status: 'unmapped' });
  });
});
