import { describe, expect, it } from 'vitest';
import { isLoopbackHost } from '../../../src/net/loopback.js';
import { isLoopbackHost as fromClient } from '../../../src/oci/client.js';

describe('isLoopbackHost', () => {
  it('knows localhost and *.localhost, with or without a port, in any case', () => {
    for (const h of ['localhost', 'localhost:5000', 'LOCALHOST:5000', 'registry.localhost', 'a.b.localhost:443', 'localhost.']) expect(isLoopbackHost(h), h).toBe(true);
  });

  it('knows all of 127.0.0.0/8 and [::1], with or without a port', () => {
    for (const h of ['127.0.0.1', '127.0.0.1:5000', '127.1.2.3', '127.255.255.254:443', '[::1]', '[::1]:5000', '[0:0:0:0:0:0:0:1]:80']) expect(isLoopbackHost(h), h).toBe(true);
  });

  it('refuses other hosts, look-alikes, and anything that is not a bare host[:port]', () => {
    for (const h of [
      '',
      'registry.example.com',
      '10.0.0.1:5000',
      '128.0.0.1',
      '[fe80::1]:5000',
      '[::2]',
      'localhost.example.com',
      'mylocalhost',
      '127.0.0.1.nip.io',
      'localhost/v2',
      'user@localhost',
      'localhost:99999',
      'localhost:port',
      ' localhost',
      '::1',
    ]) {
      expect(isLoopbackHost(h), h).toBe(false);
    }
  });

  it('is the same rule the registry client uses for its plain-HTTP fallback', () => {
    expect(fromClient).toBe(isLoopbackHost);
  });
});
