import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseRelease } from '../../src/kinds/apt/control.js';
import { readPublicKeys, verifyClearSigned } from '../../src/net/pgp.js';

/**
 * Interoperability with the real Debian archive: the InRelease files apt itself fetched
 * (/var/lib/apt/lists, present wherever `apt-get update` ran — the APT tests need it anyway)
 * verify with Debian's binary keyring, and a byte changed inside them does not.
 */
const LISTS = '/var/lib/apt/lists';
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

describe('OpenPGP interop with the Debian archive', () => {
  it('verifies the host\'s InRelease files with debian-archive-keyring.gpg and refuses an altered one', async () => {
    const files = (await readdir(LISTS).catch(() => [] as string[])).filter((f) => f.endsWith('_InRelease') && f.includes('debian'));
    expect(files.length, `no Debian InRelease in ${LISTS}: run apt-get update first`).toBeGreaterThan(0);
    const keys = await readPublicKeys([KEYRING], '/', 'debian-archive-keyring');
    for (const f of files) {
      const bytes = await readFile(`${LISTS}/${f}`);
      const v = await verifyClearSigned(bytes, keys, f);
      expect(parseRelease(v.text).sha256.size, f).toBeGreaterThan(0);
      const text = bytes.toString('utf8');
      const i = text.indexOf(' main/binary-amd64/Packages');
      const altered = Buffer.from(text.slice(0, i - 1) + (text[i - 1] === '1' ? '2' : '1') + text.slice(i));
      await expect(verifyClearSigned(altered, keys, f)).rejects.toThrow(/bad signature by a given key|not signed by any of the given keys/);
    }
  });
});
