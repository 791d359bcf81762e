import { describe, expect, it } from 'vitest';
import { startRegistryServer } from '../../src/serve/server.js';
import { emptyBlobSource } from '../support/blob-source.js';

const content = (closed: string[], name: string) => ({
  source: emptyBlobSource,
  index: { schemaVersion: 2 as const, manifests: [] },
  mapping: { layout: 'nested' as const },
  close: async () => {
    closed.push(name);
  },
});

describe('serve: a swap and a close at once (SIGHUP, then SIGTERM while the reload opens the bundle)', () => {
  it('the content swapped in after the close is closed, not left open, and the swap says it was not served', async () => {
    const closed: string[] = [];
    const server = await startRegistryServer({ ...content(closed, 'first'), listen: '127.0.0.1:0' });
    const swapping = server.swap(content(closed, 'next'));
    await server.close();
    await expect(swapping).rejects.toThrow(/serve stopped while the new content was being opened/);
    expect(closed.sort()).toEqual(['first', 'next']);
  });

  it('a swap after the close is refused and closes what it was given', async () => {
    const closed: string[] = [];
    const server = await startRegistryServer({ ...content(closed, 'first'), listen: '127.0.0.1:0' });
    await server.close();
    await expect(server.swap(content(closed, 'late'))).rejects.toThrow(/not served/);
    expect(closed).toEqual(['first', 'late']);
  });
});
