import { describe, expect, test } from 'vitest';
import type { Lock } from '../../src/kinds/schema.js';
import { lockChanges } from '../../src/commands/lock-diff.js';

const lock = (images: Array<{ ref: string; digest: string }>) => ({ images }) as unknown as Lock;

describe('lock change list: an image referenced by digest alone', () => {
  test('its pin is the digest, said once (was "@sha256:a@sha256:a")', () => {
    const a = `sha256:${'a'.repeat(64)}`;
    const b = `sha256:${'b'.repeat(64)}`;
    const changes = lockChanges(lock([{ ref: `docker.io/library/alpine@${a}`, digest: a }]), lock([{ ref: `docker.io/library/alpine@${b}`, digest: b }]));
    expect(changes).toEqual([{ kind: 'image', change: 'updated', name: 'docker.io/library/alpine', from: a, to: b }]);
  });
  test('a tagged reference keeps tag@digest', () => {
    const a = `sha256:${'a'.repeat(64)}`;
    const b = `sha256:${'b'.repeat(64)}`;
    const changes = lockChanges(lock([{ ref: 'localhost:5000/x/alpine:3.20', digest: a }]), lock([{ ref: 'localhost:5000/x/alpine:3.21', digest: b }]));
    expect(changes).toEqual([{ kind: 'image', change: 'updated', name: 'localhost:5000/x/alpine', from: `3.20@${a}`, to: `3.21@${b}` }]);
  });
});
