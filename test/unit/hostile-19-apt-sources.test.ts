/**
 * Hostile pass 19, `rewrite apt-sources` (src/rewrite/apt-sources.ts) of crafted vendor sources.
 *
 * Fixed:
 * - `[x-signed-by=/a signed-by=/vendor.gpg]`: the first `signed-by=` inside any option name was
 *   taken, so x-signed-by's value was replaced and the real signed-by kept the vendor key — for a
 *   mirror re-signed with the site key apt then refuses every Release. The option is matched whole.
 * - A CRLF .sources file: the rewritten Signed-By lost its CR and the added one had none (a file
 *   of mixed line endings). The field keeps the file's line ending.
 * Held (tested here or read): a symbolic link given as the sources file (to a file outside the
 * directory) is refused, neither written through nor replaced (replaceFilesAtomic); a Signed-By
 * block that never ends is one field up to the blank line or the end; a line of 60 MB is read
 * (the 64 MiB cap) and matched by anchored patterns in one pass; URIs with control bytes or ANSI
 * escapes reach the terminal only through escapeLine/escapeControls (warnings, report, diff).
 */
import { lstat, readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { rewriteAptSources } from '../../src/rewrite/apt-sources.js';
import { fixtureContext, scratch, write } from './rewrite/helpers.js';

const MIRROR = 'https://apt.site.example/debian-mirror/deb.debian.org/debian';
const SITE = '/etc/apt/keyrings/ferry-archive-keyring.gpg';

describe('hostile-19: rewrite apt-sources of crafted files', () => {
  it('an option whose name ends in signed-by is not taken for signed-by', async () => {
    const dir = await scratch();
    const f = await write(dir, 'x.list', 'deb [x-signed-by=/a signed-by=/vendor.gpg] http://deb.debian.org/debian bookworm main\n');
    await rewriteAptSources([f], await fixtureContext(), {});
    expect(await readFile(f, 'utf8')).toBe(`deb [x-signed-by=/a signed-by=${SITE}] ${MIRROR} bookworm main\n`);
  });

  it('a CRLF .sources file keeps CRLF in the Signed-By it rewrites or adds, and a second run changes nothing', async () => {
    const dir = await scratch();
    const stanza = 'Types: deb\r\nURIs: http://deb.debian.org/debian\r\nSuites: bookworm\r\nComponents: main\r\n';
    const f = await write(dir, 'a.sources', `${stanza}Signed-By: /usr/share/keyrings/debian.gpg\r\n\r\n${stanza}`);
    await rewriteAptSources([f], await fixtureContext(), {});
    const out = await readFile(f, 'utf8');
    expect(out).toBe(
      `Types: deb\r\nURIs: ${MIRROR}\r\nSuites: bookworm\r\nComponents: main\r\nSigned-By: ${SITE}\r\n\r\n` + `Types: deb\r\nURIs: ${MIRROR}\r\nSigned-By: ${SITE}\r\nSuites: bookworm\r\nComponents: main\r\n`,
    );
    expect(out.replace(/\r\n/g, '')).not.toContain('\n');
    const again = await rewriteAptSources([f], await fixtureContext(), {});
    expect(again.files).toEqual([]);
  });

  it('held: a sources file that is a link to a file outside is refused, neither written through nor replaced', async () => {
    const dir = await scratch();
    const outside = await scratch();
    const real = await write(outside, 'real.list', 'deb http://deb.debian.org/debian bookworm main\n');
    await symlink(real, path.join(dir, 'vendor.list'));
    const err = await rewriteAptSources([path.join(dir, 'vendor.list')], await fixtureContext(), {}).then(
      () => ({ details: ['written'] }),
      (e: unknown) => e as { details?: string[] },
    );
    expect((err.details ?? []).join('\n')).toContain('a symbolic link');
    expect((await lstat(path.join(dir, 'vendor.list'))).isSymbolicLink()).toBe(true);
    expect(await readFile(real, 'utf8')).toBe('deb http://deb.debian.org/debian bookworm main\n');
  });

  it('held: a Signed-By block that never ends is replaced whole, the stanza rewritten', async () => {
    const dir = await scratch();
    const f = await write(dir, 'k.sources', `Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n${' abc\n'.repeat(100_000)}`);
    const r = await rewriteAptSources([f], await fixtureContext(), {});
    expect(r.replacements.find((x) => x.kind === 'signed-by')?.old).toBe('(inline key)');
    expect(await readFile(f, 'utf8')).toBe(`Types: deb\nURIs: ${MIRROR}\nSuites: bookworm\nSigned-By: ${SITE}\n`);
  });
});
