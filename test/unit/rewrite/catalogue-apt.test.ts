import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseToml } from 'smol-toml';
import { rewriteCatalogue } from '../../../src/rewrite/catalogue.js';
import { rewriteAptSources } from '../../../src/rewrite/apt-sources.js';
import { fixtureContext, scratch, write } from './helpers.js';

const IMG = 'https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img';
const SUMS = 'https://cloud-images.ubuntu.com/noble/current/SHA256SUMS';
const FILES = 'https://files.site.example/mirror/cloud-images.ubuntu.com/noble/current';

describe('rewrite catalogue', () => {
  it('JSON: URLs of mirrored files become mirror URLs; checksums and other URLs stay', async () => {
    const dir = await scratch('catalogue.json');
    const file = path.join(dir, 'catalogue.json');
    const r = await rewriteCatalogue(file, await fixtureContext(), {});
    const out = JSON.parse(await readFile(file, 'utf8'));
    expect(out.images[0].url).toBe(`${FILES}/noble-server-cloudimg-amd64.img`);
    expect(out.images[0].checksums).toBe(`${FILES}/SHA256SUMS`);
    expect(out.images[0].sha256).toBe('a'.repeat(64));
    expect(out.docs).toBe('https://example.org/docs');
    expect(r.replacements.map((x) => x.line)).toEqual([5, 7]);
    const again = await rewriteCatalogue(file, await fixtureContext(), {});
    expect(again.replacements).toEqual([]);
  });

  it('TOML and text, written to -o; a URL at a mirrored origin that the lock lacks is unmapped', async () => {
    const dir = await scratch();
    const toml = await write(dir, 'c.toml', `[[image]]\nname = "noble"\nurl = "${IMG}"\nsha256 = "${'a'.repeat(64)}"\n`);
    const out = path.join(dir, 'out.toml');
    await rewriteCatalogue(toml, await fixtureContext(), { output: out });
    expect(parseToml(await readFile(out, 'utf8'))).toEqual({ image: [{ name: 'noble', url: `${FILES}/noble-server-cloudimg-amd64.img`, sha256: 'a'.repeat(64) }] });
    const text = await write(dir, 'get.sh', `curl -fsSLO ${SUMS}.\ncurl -fsSLO https://cloud-images.ubuntu.com/jammy/current/other.img\n`);
    const err = await rewriteCatalogue(text, await fixtureContext(), {}).catch((e) => e);
    expect(err.code).toBe('CONFLICT');
    expect(err.details[0]).toContain(`${text}:2  https://cloud-images.ubuntu.com/jammy/current/other.img`);
    await rewriteCatalogue(text, await fixtureContext(), { allowUnmapped: true });
    expect(await readFile(text, 'utf8')).toBe(`curl -fsSLO ${FILES}/SHA256SUMS.\ncurl -fsSLO https://cloud-images.ubuntu.com/jammy/current/other.img\n`);
  });

  it('JSON with escaped slashes (PHP json_encode) or \\u escapes: the URL is found and rewritten in the same style; nothing else changes', async () => {
    const dir = await scratch();
    const esc = (u: string) => u.replace(/\//g, '\\/');
    const text = `{"images":[{"url":"${esc(IMG)}","note":"mirror of ${esc(SUMS)} and \\u0068ttps:\\/\\/example.org\\/x","sha256":"${'a'.repeat(64)}"}],"sums":"${SUMS.replace('https', '\\u0068ttps')}","t\\u00e9":"\\u00e9"}\n`;
    const f = await write(dir, 'cat.json', text);
    const r = await rewriteCatalogue(f, await fixtureContext(), {});
    const after = await readFile(f, 'utf8');
    expect(after).toBe(
      `{"images":[{"url":"${esc(`${FILES}/noble-server-cloudimg-amd64.img`)}","note":"mirror of ${esc(`${FILES}/SHA256SUMS`)} and \\u0068ttps:\\/\\/example.org\\/x","sha256":"${'a'.repeat(64)}"}],"sums":"${FILES}/SHA256SUMS","t\\u00e9":"\\u00e9"}\n`,
    );
    expect(JSON.parse(after).images[0].url).toBe(`${FILES}/noble-server-cloudimg-amd64.img`);
    expect(r.replacements.map((x) => x.old)).toEqual([IMG, SUMS, SUMS]);
    const again = await rewriteCatalogue(f, await fixtureContext(), {});
    expect(again.replacements).toEqual([]);
    // An escaped URL at a mirrored origin that the lock lacks is named, as a plain one is.
    const other = await write(dir, 'other.json', `{"u":"${esc('https://cloud-images.ubuntu.com/jammy/current/other.img')}"}`);
    const err = await rewriteCatalogue(other, await fixtureContext(), {}).catch((e) => e);
    expect(err.code).toBe('CONFLICT');
    expect(err.details[0]).toContain('https://cloud-images.ubuntu.com/jammy/current/other.img');
  });

  it('JSON with escapes: a longer URL that starts with a mirrored one is its own URL (review 4); a URL of megabytes is read in one pass', async () => {
    const dir = await scratch();
    const esc = (u: string) => u.replace(/\//g, '\\/');
    const long = `https://cloud-images.ubuntu.com/${'a'.repeat(2_000_000)}`;
    const text = `{"a":"${esc(SUMS)} ${esc(`${SUMS}.gpg`)}","b":"${esc(`${SUMS}x`)} \\u0041","c":"${esc(long)}"}\n`;
    const f = await write(dir, 'cat.json', text);
    const r = await rewriteCatalogue(f, await fixtureContext(), { allowUnmapped: true });
    const after = await readFile(f, 'utf8');
    // Only the carried SHA256SUMS moves; SHA256SUMS.gpg (not in the lock) stays upstream whole,
    // not turned into a mirror URL nothing serves while it is reported as left upstream.
    expect(JSON.parse(after)).toEqual({ a: `${FILES}/SHA256SUMS ${SUMS}.gpg`, b: `${SUMS}x \\u0041`.replace('\\u0041', 'A'), c: long });
    expect(r.replacements.map((x) => x.old)).toEqual([SUMS]);
    expect(r.unmapped.map((u) => u.ref)).toEqual([`${SUMS}.gpg`, `${SUMS}x`, long]);
  });

  it('refuses a file that is not the format it claims', async () => {
    const dir = await scratch();
    const f = await write(dir, 'bad.json', '{ not json');
    await expect(rewriteCatalogue(f, await fixtureContext(), {})).rejects.toThrow(/not valid JSON/);
  });
});

describe('rewrite apt-sources', () => {
  const DEB = 'https://apt.site.example/debian-mirror/deb.debian.org/debian';
  const SEC = 'https://apt.site.example/debian-mirror/security.debian.org/debian-security/';
  const KEY = '/etc/apt/keyrings/ferry-archive-keyring.gpg';

  it('one-line sources: URIs mapped; Signed-By set only where the mirror is re-signed (filtered)', async () => {
    const dir = await scratch('sources.list');
    const file = path.join(dir, 'sources.list');
    const r = await rewriteAptSources([file], await fixtureContext(), {});
    expect(await readFile(file, 'utf8')).toBe(
      [
        '# Debian',
        `deb [signed-by=${KEY}] ${DEB} bookworm main contrib`,
        `deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${SEC} bookworm-security main`,
        '# deb-src http://deb.debian.org/debian bookworm main',
        '',
      ].join('\n'),
    );
    expect(r.warnings.join()).toContain('https://apt.site.example/debian-mirror/ferry-archive-keyring.gpg');
    const again = await rewriteAptSources([file], await fixtureContext(), {});
    expect(again.replacements).toEqual([]);
  });

  it('a suite the mirror does not carry is not pointed at it (apt-get update would fail there); a component it lacks is rewritten with a warning', async () => {
    const dir = await scratch();
    const list = await write(dir, 'sources.list', 'deb http://deb.debian.org/debian bookworm-updates main\n');
    const err = await rewriteAptSources([list], await fixtureContext(), {}).catch((e) => e);
    expect(err.code).toBe('CONFLICT');
    expect(err.details[0]).toContain('repository mirrored, but not its suite bookworm-updates (carried: bookworm)');
    expect(await readFile(list, 'utf8')).toBe('deb http://deb.debian.org/debian bookworm-updates main\n');
    const deb822 = await write(dir, 'd.sources', 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n');
    const err2 = await rewriteAptSources([deb822], await fixtureContext(), {}).catch((e) => e);
    expect(err2.details[0]).toContain('suite bookworm-updates');
    const contrib = await write(dir, 'c.list', 'deb http://deb.debian.org/debian bookworm main contrib\n');
    const r = await rewriteAptSources([contrib], await fixtureContext(), {});
    expect(await readFile(contrib, 'utf8')).toContain(`${DEB} bookworm main contrib`);
    expect(r.warnings.join('\n')).toContain('the mirror does not carry its component contrib (carried: main); apt skips them there with a warning');
  });

  it('deb822 .sources: URIs and Signed-By per stanza, idempotent', async () => {
    const dir = await scratch('debian.sources');
    const file = path.join(dir, 'debian.sources');
    await rewriteAptSources([file], await fixtureContext(), { signedBy: '/usr/share/keyrings/site.gpg' });
    const text = await readFile(file, 'utf8');
    expect(text).toBe(
      [
        'Types: deb',
        `URIs: ${DEB}`,
        'Suites: bookworm',
        'Components: main',
        'Signed-By: /usr/share/keyrings/site.gpg',
        '',
        'Types: deb',
        `URIs: ${SEC}`,
        'Suites: bookworm-security',
        'Components: main',
        '',
      ].join('\n'),
    );
    const again = await rewriteAptSources([file], await fixtureContext(), { signedBy: '/usr/share/keyrings/site.gpg' });
    expect(again.replacements).toEqual([]);
  });

  it('an inline Signed-By key block is replaced whole; an unknown repository is unmapped', async () => {
    const dir = await scratch();
    const file = await write(dir, 'x.sources', 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n -----END PGP PUBLIC KEY BLOCK-----\n\nTypes: deb\nURIs: https://download.example.com/apt\nSuites: stable\n');
    const err = await rewriteAptSources([file], await fixtureContext(), {}).catch((e) => e);
    expect(err.details[0]).toContain('https://download.example.com/apt');
    await rewriteAptSources([file], await fixtureContext(), { allowUnmapped: true });
    expect(await readFile(file, 'utf8')).toBe(`Types: deb\nURIs: ${DEB}\nSuites: bookworm\nSigned-By: /etc/apt/keyrings/ferry-archive-keyring.gpg\n\nTypes: deb\nURIs: https://download.example.com/apt\nSuites: stable\n`);
  });
});
