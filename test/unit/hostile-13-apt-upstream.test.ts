import { createHash } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../src/errors.js';
import { fetchApt } from '../../src/kinds/apt/fetch.js';
import { resolveApt } from '../../src/kinds/apt/resolve.js';
import type { AptSpec } from '../../src/kinds/apt/spec.js';
import type { KindContext } from '../../src/kinds/types.js';
import { gpgSign, makeGpgKey, type GpgKey } from '../support/apt-repo.js';
import { loopbackKindContext } from '../support/kind-context.js';

/**
 * Hostile pass 13: an upstream APT repository (or whoever answers for it) crafting what
 * `ferry lock` and `ferry bundle create` read — an in-process server on loopback serves a
 * Release clear-signed by a real gpg key and the indexes it lists.
 *
 * What tripped:
 * - a Release dated in the future was locked and carried: apt on the air-gapped side refuses it
 *   ("not valid yet") until that date, while ferry reported the mirror done; a Date that is no
 *   date was not noticed either;
 * - nothing bounded how many packages the indexes list: each is held for the closure (~320
 *   bytes), and the 1 GiB an index may expand to holds ten million minimal stanzas — a heap
 *   crash instead of an error;
 * - a multi-line field of the vendor's Release (` Valid-Until: …` continuing `Origin:`) was
 *   carried into a filtered bundle whose Release, written at import, gained that field under the
 *   site key's signature (refused at import since this pass, and now before the bundle is made).
 * Held (kept so): a Release signed by another key, one whose Valid-Until is past.
 */

const hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const deb = Buffer.from('!<arch>\ndebian-binary   crafted\n');
const stanza = (name: string, extra = '') => `Package: ${name}\nVersion: 1\nArchitecture: amd64\nFilename: pool/${name}.deb\nSize: ${deb.length}\nSHA256: ${hex(deb)}\n${extra}`;

let work: string;
let vendor: GpgKey;
let other: GpgKey;
let files: Map<string, Buffer>;
let server: http.Server;
let base: string;
let ctx: KindContext;

/** Publish dists/<suite> with the given Release header lines and Packages text, clear-signed by `key`. */
async function publish(suite: string, header: string[], packagesText: string, key = vendor): Promise<void> {
  const pkgs = gzipSync(Buffer.from(packagesText));
  files.set(`/dists/${suite}/main/binary-amd64/Packages.gz`, pkgs);
  for (const line of packagesText.matchAll(/^Filename: (.*)$/gm)) files.set(`/${line[1]}`, deb);
  const release = [...header, `Suite: ${suite}`, 'Architectures: amd64', 'Components: main', 'SHA256:', ` ${hex(pkgs)} ${pkgs.length} main/binary-amd64/Packages.gz`, ''].join('\n');
  const file = path.join(work, `${suite}.Release`);
  await writeFile(file, release);
  await gpgSign(key, file, 'clearsign', `${file}.asc`);
  files.set(`/dists/${suite}/InRelease`, await readFile(`${file}.asc`));
}

const spec = (suite: string, packages?: string[]): AptSpec => ({ name: 'crafted', url: `${base}/`, suites: [suite], components: ['main'], architectures: ['amd64'], keys: [vendor.publicKey], ...(packages ? { packages } : {}) });

async function refusal(p: Promise<unknown>): Promise<FerryError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FerryError);
  return err as FerryError;
}

const day = 24 * 3600 * 1000;
const httpDate = (ms: number) => new Date(ms).toUTCString().replace(/GMT$/, 'UTC');

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile13-apt-'));
  [vendor, other] = await Promise.all([makeGpgKey(work, 'vendor'), makeGpgKey(work, 'other')]);
  files = new Map();
  server = http.createServer((req, res) => {
    const body = files.get(decodeURIComponent(new URL(req.url!, 'http://x').pathname));
    res.writeHead(body ? 200 : 404, { 'content-length': body?.length ?? 0 }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  ctx = await loopbackKindContext('ferry-hostile13-apt-store-');
}, 120_000);

afterAll(async () => {
  await new Promise((r) => server?.close(r));
});

describe('an upstream APT repository answering crafted metadata to ferry lock and bundle create', () => {
  it('an honest suite locks (so the refusals below are the checks at work)', async () => {
    await publish('honest', [`Date: ${httpDate(Date.now() - day)}`], stanza('jq'));
    const [lock] = await resolveApt([spec('honest')], ctx);
    expect(lock.suites[0].packages.map((p) => p.filename)).toEqual(['pool/jq.deb']);
  });

  it('a Release dated two days ahead is refused, naming the date (apt refuses it as "not valid yet")', async () => {
    const date = httpDate(Date.now() + 2 * day);
    await publish('future', [`Date: ${date}`], stanza('jq'));
    const err = await refusal(resolveApt([spec('future')], ctx));
    expect(err.code).toBe('VERIFY');
    expect(err.message).toContain(`dists/future/InRelease is dated ${date}`);
    expect(err.message).toContain('not valid yet');
  });

  it('a Date that is no date is refused with the Release', async () => {
    await publish('baddate', ['Date: the twelfth of never'], stanza('jq'));
    const err = await refusal(resolveApt([spec('baddate')], ctx));
    expect(err.code).toBe('VERIFY');
    expect(err.details).toContain('Date "the twelfth of never" is not a date');
  });

  it('held: a Release signed by a key not listed, and one whose Valid-Until is past', async () => {
    await publish('otherkey', [`Date: ${httpDate(Date.now() - day)}`], stanza('jq'), other);
    expect((await refusal(resolveApt([spec('otherkey')], ctx))).message).toContain('is not signed by any of the given keys');
    await publish('expired', [`Date: ${httpDate(Date.now() - 3 * day)}`, `Valid-Until: ${httpDate(Date.now() - day)}`], stanza('jq'));
    expect((await refusal(resolveApt([spec('expired')], ctx))).message).toContain('(Valid-Until)');
  });

  it('indexes listing more packages than the bound are refused while read, naming the index and the bound', async () => {
    await publish('many', [`Date: ${httpDate(Date.now() - day)}`], ['a', 'b', 'c', 'd'].map((n) => stanza(n)).join('\n'));
    expect((await resolveApt([spec('many')], ctx, 4))[0].suites[0].packages).toHaveLength(4);
    const err = await refusal(resolveApt([spec('many')], ctx, 3));
    expect(err.code).toBe('VERIFY');
    expect(err.message).toContain('dists/many/main/binary-amd64/Packages.gz: the indexes list more than 3 packages');
  });

  it('a multi-line Origin in the vendor Release is refused before a filtered bundle is made; a whole mirror carries it as signed', async () => {
    await publish('multiline', [`Date: ${httpDate(Date.now() - day)}`, 'Origin: Vendor', ` Valid-Until: ${httpDate(Date.now() - 10 * day)}`], stanza('jq'));
    const [filtered] = await resolveApt([spec('multiline', ['jq'])], ctx);
    const err = await refusal(fetchApt(filtered, ctx));
    expect(err.code).toBe('VERIFY');
    expect(err.message).toContain("dists/multiline/InRelease (the vendor's signed Release): the suite's config cannot be published in a Release");
    expect(err.details?.[0]).toMatch(/^origin "Vendor\\nValid-Until: /);
    const [whole] = await resolveApt([spec('multiline')], ctx);
    expect(await fetchApt(whole, ctx)).toHaveLength(1);
  });
});
