import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/errors.js';
import { parseRelease, streamDeb822 } from '../../../src/kinds/apt/control.js';
import { fetchVerifiedRelease, MAX_RELEASE_BYTES, releaseTextOf, stanzaToPackage } from '../../../src/kinds/apt/repo.js';
import { HttpClient } from '../../../src/net/http.js';
import { readPublicKeys, type PublicKeys } from '../../../src/net/pgp.js';
import { BlobStore } from '../../../src/store/blob-store.js';
import { gpgSign, makeGpgKey, type GpgKey } from '../../support/apt-repo.js';
import { startStaticServer, type StaticServer } from '../../support/static-http.js';

/**
 * A signed APT repository that crafts its Release: real gpg signatures, served over loopback.
 * Each case is one suite under dists/ of the same repository.
 */

const H = (c: string) => c.repeat(64);
const GOOD = `Origin: Vendor
Suite: stable
Codename: stable
Architectures: amd64
Components: main
Date: Sat, 09 Nov 2024 10:00:00 UTC
SHA256:
 ${H('1')} 100 main/binary-amd64/Packages
 ${H('2')} 50 main/binary-amd64/Packages.gz
`;

let dir: string;
let root: string;
let key: GpgKey;
let keys: PublicKeys;
let server: StaticServer;
let store: BlobStore;

/** dists/<suite>/InRelease: `text` clear-signed by the vendor key, then `mangle`d. */
async function inRelease(suite: string, text: string, mangle: (signed: string) => string = (s) => s): Promise<string> {
  const d = path.join(root, 'dists', suite);
  await mkdir(d, { recursive: true });
  await writeFile(path.join(dir, 'Release.in'), text);
  await gpgSign(key, path.join(dir, 'Release.in'), 'clearsign', path.join(dir, 'InRelease.out'));
  const signed = mangle(await readFile(path.join(dir, 'InRelease.out'), 'utf8'));
  await writeFile(path.join(d, 'InRelease'), signed);
  return signed;
}

async function refusal(suite: string): Promise<FerryError> {
  const err = await fetchVerifiedRelease(server.url, suite, keys, new HttpClient(), store, `apt[vendor] ${suite}`).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `${suite} should be refused`).toBeInstanceOf(FerryError);
  return err as FerryError;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile3-release-'));
  root = path.join(dir, 'repo');
  await mkdir(root, { recursive: true });
  key = await makeGpgKey(dir, 'vendor');
  keys = await readPublicKeys([key.publicKey], dir, 'apt[vendor]');
  server = await startStaticServer(root);
  store = new BlobStore(path.join(dir, 'store'));
  await store.init();
}, 60_000);
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('an InRelease with text outside its signed message', () => {
  it('an unsigned Release paragraph before the signed one: refused at lock, and never parsed from a kept copy', async () => {
    const signed = await inRelease('preamble', GOOD, (s) => `Origin: Evil\nAcquire-By-Hash: yes\nArchitectures: evil\n\n${s}`);
    const err = await refusal('preamble');
    expect(err.code).toBe('VERIFY');
    expect(err.message).toMatch(/dists\/preamble\/InRelease: text before the signed message/);
    expect(err.hint).toMatch(/not vouched for/);
    // The same bytes inside a bundle (import, serve, fetch read kept copies): the unsigned
    // paragraph used to be what parseRelease read (Origin: Evil, Acquire-By-Hash: yes).
    expect(() => releaseTextOf(Buffer.from(signed), 'bundle InRelease')).toThrow(/bundle InRelease: text before the signed message/);
  });

  it('text after the signature, and a second signed message appended: refused (apt refuses both)', async () => {
    await inRelease('trailer', GOOD, (s) => `${s}\nOrigin: Evil\n`);
    expect((await refusal('trailer')).message).toMatch(/text after the signature/);
    await inRelease('twice', GOOD, (s) => s + s.replace('Origin: Vendor', 'Origin: Evil'));
    expect((await refusal('twice')).message).toMatch(/more than one signed message/);
  });

  it('dash-escaped lines, CRLF line ends and a trailing blank line still verify, and read as signed', async () => {
    const text = `${GOOD}-----BEGIN PGP SIGNED MESSAGE-----\n-----END PGP SIGNATURE-----\n- a dashed line\n`;
    const signed = await inRelease('dashes', text, (s) => `${s.replace(/\n/g, '\r\n')}\r\n`);
    expect(signed).toContain('- -----BEGIN PGP SIGNED MESSAGE-----\r\n- -----END PGP SIGNATURE-----');
    const v = await fetchVerifiedRelease(server.url, 'dashes', keys, new HttpClient(), store, 'apt[vendor] dashes');
    expect(v.release.fields.get('origin')).toBe('Vendor');
    expect(v.release.sha256.get('main/binary-amd64/Packages.gz')).toEqual({ hash: H('2'), size: 50 });
    expect(parseRelease(releaseTextOf(Buffer.from(signed))).fields.get('origin')).toBe('Vendor');
  });
});

describe('a signed Release that cannot be read unambiguously', () => {
  it('no SHA256 list (MD5Sum only): refused, where it used to lock a suite with no packages at all', async () => {
    await inRelease('md5only', GOOD.replace(/SHA256:[\s\S]*$/, `MD5Sum:\n ${'1'.repeat(32)} 100 main/binary-amd64/Packages\n`));
    const err = await refusal('md5only');
    expect(err.code).toBe('VERIFY');
    expect(err.message).toMatch(/apt\[vendor\] md5only .*dists\/md5only\/InRelease: the signed Release cannot be used/);
    expect(err.details?.join('\n')).toMatch(/no SHA256 list/);
  });

  it('one index listed twice with different hashes, and the SHA256 field given twice: refused, every problem named', async () => {
    await inRelease('dup-entry', `${GOOD} ${H('3')} 100 main/binary-amd64/Packages\n`);
    expect((await refusal('dup-entry')).details).toEqual(['SHA256 lists main/binary-amd64/Packages twice, with different hashes or sizes']);
    await inRelease('dup-field', `${GOOD}SHA256:\n ${H('4')} 7 main/binary-amd64/Packages.xz\n`);
    expect((await refusal('dup-field')).details).toEqual(['the field "SHA256" appears twice']);
  });

  it('a Valid-Until in the past is refused; one that is not a date is refused too (it used to pass as never expiring)', async () => {
    await inRelease('expired', GOOD.replace('Date:', 'Valid-Until: Sat, 16 Nov 2024 10:00:00 UTC\nDate:'));
    expect((await refusal('expired')).message).toMatch(/expired at Sat, 16 Nov 2024/);
    await inRelease('notadate', GOOD.replace('Date:', 'Valid-Until: whenever\nDate:'));
    expect((await refusal('notadate')).details).toEqual(['Valid-Until "whenever" is not a date']);
  });

  it('an InRelease larger than the bound is refused, naming the bound, without parsing it', async () => {
    const d = path.join(root, 'dists', 'huge');
    await mkdir(d, { recursive: true });
    await writeFile(path.join(d, 'InRelease'), Buffer.alloc(MAX_RELEASE_BYTES + 1, 0x41));
    const err = await refusal('huge');
    expect(err.code).toBe('VERIFY');
    expect(err.message).toMatch(new RegExp(`dists/huge/InRelease.*larger than the ${MAX_RELEASE_BYTES} bytes`));
  });
});

describe('sizes and fields from a signed index', () => {
  it('a Release size past 2^53 is not a size: the line is ignored like any malformed one', () => {
    const r = parseRelease(`SHA256:\n ${H('1')} 99999999999999999999 main/binary-amd64/Packages\n ${H('2')} 10 main/ok\n`);
    expect([...r.sha256.keys()]).toEqual(['main/ok']);
  });

  it('index paths with "." or empty segments, backslashes or control bytes are ignored like ".." and absolute ones (the one path rule)', () => {
    const lines = ['main/./binary-amd64/Packages', 'main//binary-amd64/Packages', 'main\\..\\x', 'main/\u001b[2J', '../x', '/abs'].map((p) => ` ${H('1')} 10 ${p}`);
    const r = parseRelease(`SHA256:\n${lines.join('\n')}\n ${H('2')} 10 main/ok\n`);
    expect([...r.sha256.keys()]).toEqual(['main/ok']);
  });

  it('a package Size past 2^53 is refused, naming the package (it used to be locked as 1e20 bytes)', async () => {
    const st = { fields: new Map([['package', 'big'], ['filename', 'pool/b/big.deb'], ['sha256', H('a')], ['size', '99999999999999999999']]) };
    expect(() => stanzaToPackage(st, 0, 'apt[vendor] stable main/binary-amd64/Packages')).toThrow(/Packages: package big has no valid Filename, SHA256 or Size/);
  });

  it('a package that names SHA256 (or Filename) twice is refused, naming it: ferry would verify one and apt could read the other', async () => {
    const text = `Package: ok\nFilename: pool/ok.deb\nSize: 1\nSHA256: ${H('a')}\n\nPackage: twice\nFilename: pool/t.deb\nSize: 1\nSHA256: ${H('b')}\nsha256: ${H('c')}\n`;
    const read = async () => {
      const out = [];
      for await (const st of streamDeb822(Readable.from([Buffer.from(text)]), false, new Set(['package', 'filename', 'size', 'sha256']), 'dists/stable/main/binary-amd64/Packages')) out.push(st);
      return out;
    };
    await expect(read()).rejects.toThrow(/dists\/stable\/main\/binary-amd64\/Packages: package "twice" has the field "sha256" twice/);
    // Duplicates of fields ferry does not read are left alone (Description twice is not ferry's business).
    const other = `Package: fine\nDescription: a\nDescription: b\nSHA256: ${H('d')}\n`;
    const got = [];
    for await (const st of streamDeb822(Readable.from([Buffer.from(other)]), false, new Set(['package', 'sha256']))) got.push(st);
    expect(got[0].fields.get('sha256')).toBe(H('d'));
  });
  it('a Release + Release.gpg that list other files than the verified InRelease are not carried (an older Release replayed with its valid signature)', async () => {
    await inRelease('replay', GOOD.replace('Suite: stable', 'Suite: replay'));
    const d = path.join(root, 'dists', 'replay');
    // Same number of entries, other hashes: the repository's previous state, validly signed.
    await writeFile(path.join(d, 'Release'), GOOD.replace('Suite: stable', 'Suite: replay').replace(H('1'), H('9')));
    await gpgSign(key, path.join(d, 'Release'), 'detach', path.join(d, 'Release.gpg'));
    const old = await fetchVerifiedRelease(server.url, 'replay', keys, new HttpClient(), store, 'apt[vendor] replay');
    expect(old.files.map((f) => f.path)).toEqual(['dists/replay/InRelease']);
    // The same files, signed apart too: carried beside InRelease, as apt clients may ask for either.
    await writeFile(path.join(d, 'Release'), GOOD.replace('Suite: stable', 'Suite: replay'));
    await gpgSign(key, path.join(d, 'Release'), 'detach', path.join(d, 'Release.gpg'));
    const same = await fetchVerifiedRelease(server.url, 'replay', keys, new HttpClient(), store, 'apt[vendor] replay');
    expect(same.files.map((f) => f.path)).toEqual(['dists/replay/InRelease', 'dists/replay/Release', 'dists/replay/Release.gpg']);
  });
});
