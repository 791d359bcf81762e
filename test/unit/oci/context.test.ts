import { describe, expect, it } from 'vitest';
import { createTargetNetContext } from '../../../src/oci/context.js';

describe('createTargetNetContext', () => {
  it('is undefined for a target without a registry', () => {
    expect(createTargetNetContext({}, '/tmp')).toBeUndefined();
  });

  it('allows plain http:// to loopback hosts (localhost, *.localhost, 127/8, [::1]) without insecure', async () => {
    for (const url of ['http://localhost:5000', 'http://mirror.localhost:5000', 'http://127.0.0.2:5000', 'http://[::1]:5000']) {
      const net = createTargetNetContext({ registry: { url } }, '/tmp');
      expect(net, url).toBeDefined();
      expect(net!.registry.baseUrl(new URL(url).host)).toBe(url);
      await net!.close();
    }
  });

  it('refuses plain http:// to another host unless the target says insecure', async () => {
    expect(() => createTargetNetContext({ registry: { url: 'http://registry.example:5000' } }, '/tmp')).toThrow(/plain http:\/\/ is allowed only for loopback hosts/);
    const net = createTargetNetContext({ registry: { url: 'http://registry.example:5000', insecure: true } }, '/tmp');
    expect(net!.registry.baseUrl('registry.example:5000')).toBe('http://registry.example:5000');
    await net!.close();
  });

  it('speaks https to an https target', async () => {
    const net = createTargetNetContext({ registry: { url: 'https://registry.example' } }, '/tmp');
    expect(net!.registry.baseUrl('registry.example')).toBe('https://registry.example');
    await net!.close();
  });
});
