import { link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FerryError } from '../../errors.js';
import { mapAptRepo } from '../../mapping/index.js';
import { mapLimit } from '../../net/concurrency.js';
import { publicKeyArmored, publicKeyBinary, readSigningKey, signClear, signDetachedArmored, type SigningKey } from '../../net/pgp.js';
import type { OciDescriptor, OciManifest } from '../../oci/media-types.js';
import { ANNOTATION } from '../../store/source.js';
import { ROLE } from '../file/artifact.js';
import { hasSameContent, writeVerified } from '../file/download.js';
import type { ImportContext, ImportResult } from '../types.js';
import { parseRelease } from './control.js';
import type { AptConfig } from './fetch.js';
import { filteredSuite, sha256, type PublishedIndex } from './publish.js';
import { releaseTextOf, safePoolPath } from './repo.js';

/** Public half of the site key, written at the root of the APT target for clients' `signed-by`. */
export const SITE_KEY_NAME = 'ferry-archive-keyring';

export function aptTarget(ctx: ImportContext): { dir: string; baseUrl: string; signingKey?: string } {
  const t = ctx.target.target.apt;
  if (!t) {
    throw new FerryError('VALIDATION', `${ctx.target.file}: the bundle carries APT repositories but the target has no apt: { dir, baseUrl }`, {
      hint: 'Add an apt: section (and signingKey: for filtered mirrors) to the mirror target.',
    });
  }
  return { dir: path.resolve(ctx.target.dir, t.dir), baseUrl: t.baseUrl, ...(t.signingKey ? { signingKey: path.resolve(ctx.target.dir, t.signingKey) } : {}) };
}

async function writeSmall(dest: string, bytes: Uint8Array): Promise<boolean> {
  const cur = await readFile(dest).catch(() => undefined);
  if (cur && Buffer.compare(cur, bytes) === 0) return false;
  await mkdir(path.dirname(dest), { recursive: true });
  const tmp = `${dest}.ferry-${process.pid}.tmp`;
  await writeFile(tmp, bytes);
  await rename(tmp, dest);
  return true;
}

async function writeBlob(layer: OciDescriptor, dest: string, ctx: ImportContext): Promise<number> {
  if (await hasSameContent(dest, layer.digest, layer.size)) return 0;
  return writeVerified(await ctx.source.openBlob(layer.digest), dest, layer.digest, `${layer.annotations?.[ANNOTATION.title]} → ${dest}`);
}

const HASH_STRENGTH = ['SHA512', 'SHA256', 'SHA1', 'MD5Sum'];

/** The by-hash directories a client may ask for: the strongest hash listed, and SHA256. */
export function byHashTypes(hashes: Map<string, Map<string, { hash: string; size: number }>>, relPath: string): string[] {
  const listed = HASH_STRENGTH.filter((t) => hashes.get(t)?.has(relPath));
  return [...new Set([listed[0], ...(listed.includes('SHA256') ? ['SHA256'] : [])].filter((t): t is string => Boolean(t)))];
}

/** Make `dest` the same content as the verified `src` (hard link; a copy where links fail), replacing atomically. */
async function linkOrCopy(src: string, dest: string, layer: OciDescriptor, ctx: ImportContext): Promise<void> {
  if (await hasSameContent(dest, layer.digest, layer.size)) return;
  await mkdir(path.dirname(dest), { recursive: true });
  const tmp = `${dest}.ferry-${process.pid}.tmp`;
  try {
    await rm(tmp, { force: true });
    await link(src, tmp);
    await rename(tmp, dest);
  } catch {
    await rm(tmp, { force: true });
    await writeBlob(layer, dest, ctx);
  }
}

/** Where a by-hash copy of `relPath` (under dists/<suite>/) lives. */
export function byHashPath(relPath: string, type: string, hash: string): string {
  return `${relPath.replace(/[^/]+$/, '')}by-hash/${type}/${hash}`;
}

async function importWhole(root: string, suite: string, layers: OciDescriptor[], ctx: ImportContext): Promise<number> {
  let sent = 0;
  const prefix = `${safePoolPath(`dists/${suite}`, 'apt suite')}/`;
  const mine = layers.filter((l) => l.annotations?.[ANNOTATION.title]?.startsWith(prefix));
  const releases = mine.filter((l) => l.annotations?.[ROLE] === 'release');
  const main = releases.find((l) => l.annotations![ANNOTATION.title].endsWith('/InRelease')) ?? releases.find((l) => l.annotations![ANNOTATION.title].endsWith('/Release'));
  if (!main) throw new FerryError('VERIFY', `apt ${suite}: the bundle has no Release for this suite`);
  const rel = parseRelease(releaseTextOf(await ctx.source.readBlob(main.digest)));
  const validUntil = rel.fields.get('valid-until');
  if (validUntil) {
    // The vendor's signature covers Valid-Until; a whole mirror keeps it, so it expires like upstream.
    ctx.progress.log(
      `${root} ${suite}: the vendor's Release is valid until ${validUntil}; after that apt refuses it unless clients set Acquire::Check-Valid-Until=false (or mirror it filtered, re-signed without expiry)`,
    );
  }
  for (const idx of mine.filter((l) => l.annotations?.[ROLE] === 'index')) {
    const title = idx.annotations![ANNOTATION.title];
    const relPath = title.slice(prefix.length);
    const named = path.join(root, safePoolPath(title, 'apt index'));
    let first: string | undefined;
    if (rel.acquireByHash) {
      // apt fetches by the strongest hash the Release lists; older clients by SHA256. One copy, hard links for the rest.
      for (const type of byHashTypes(rel.hashes, relPath)) {
        const dest = path.join(root, prefix, byHashPath(relPath, type, rel.hashes.get(type)!.get(relPath)!.hash));
        if (first) await linkOrCopy(first, dest, idx, ctx);
        else {
          sent += await writeBlob(idx, dest, ctx);
          first = dest;
        }
      }
    }
    if (first) await linkOrCopy(first, named, idx, ctx);
    else sent += await writeBlob(idx, named, ctx);
  }
  // Signed metadata last, InRelease very last: a client sees new indexes only once they are all there.
  const order = (l: OciDescriptor) => ['Release.gpg', 'Release', 'InRelease'].indexOf(l.annotations![ANNOTATION.title].split('/').pop()!);
  for (const r of releases.sort((a, b) => order(a) - order(b))) sent += await writeBlob(r, path.join(root, safePoolPath(r.annotations![ANNOTATION.title], 'apt release')), ctx);
  return sent;
}

/** The generated Packages of one filtered suite, from the bundle (re-hashed). */
export async function generatedIndexes(suite: string, layers: OciDescriptor[], read: (digest: string) => Promise<Buffer>): Promise<PublishedIndex[]> {
  const prefix = `dists/${suite}/`;
  const out: PublishedIndex[] = [];
  for (const g of layers.filter((l) => l.annotations?.[ROLE] === 'generated-index' && l.annotations[ANNOTATION.title].startsWith(prefix))) {
    const bytes = await read(g.digest);
    if ('sha256:' + sha256(bytes) !== g.digest) throw new FerryError('VERIFY', `${g.annotations![ANNOTATION.title]}: bundle content does not match its digest`);
    out.push({ path: g.annotations![ANNOTATION.title].slice(prefix.length), bytes });
  }
  return out;
}

export function filteredDescription(cfg: AptConfig): string {
  return `Filtered mirror of ${cfg.url} (${cfg.name}), published by ferry`;
}

async function importFiltered(root: string, suiteCfg: AptConfig['suites'][number], cfg: AptConfig, layers: OciDescriptor[], key: SigningKey, ctx: ImportContext): Promise<number> {
  const prefix = `${safePoolPath(`dists/${suiteCfg.suite}`, `apt[${cfg.name}] suite`)}/`;
  const generated = await generatedIndexes(suiteCfg.suite, layers, (d) => ctx.source.readBlob(d));
  const unsigned = await filteredSuite(suiteCfg, generated, filteredDescription(cfg));
  const dist = path.join(root, prefix);
  const current = await readFile(path.join(dist, 'Release'), 'utf8').catch(() => undefined);
  let sent = 0;
  // by-hash copies first, then the named indexes, then the signed Release files: InRelease last.
  for (const p of unsigned.indexes) {
    if (await writeSmall(path.join(dist, byHashPath(p.path, 'SHA256', sha256(p.bytes))), p.bytes)) sent += p.bytes.length;
  }
  for (const p of unsigned.indexes) if (await writeSmall(path.join(dist, p.path), p.bytes)) sent += p.bytes.length;
  if (current === unsigned.release && (await readFile(path.join(dist, 'InRelease')).catch(() => undefined))) return sent;
  const releaseBytes = Buffer.from(unsigned.release, 'utf8');
  await writeSmall(path.join(dist, 'Release.gpg'), Buffer.from(await signDetachedArmored(releaseBytes, key)));
  await writeSmall(path.join(dist, 'Release'), releaseBytes);
  await writeSmall(path.join(dist, 'InRelease'), Buffer.from(await signClear(unsigned.release, key)));
  return sent + releaseBytes.length;
}

/**
 * Write one APT repository into `apt.dir` under its mapped path: pool files first (each re-hashed),
 * then indexes (by-hash copies before the named ones), then the signed Release files. A whole
 * mirror keeps the vendor's signed metadata; a filtered one is re-signed with the site key.
 */
export async function importApt(top: OciDescriptor, ctx: ImportContext): Promise<ImportResult[]> {
  const target = aptTarget(ctx);
  const manifest = JSON.parse((await ctx.source.readBlob(top.digest)).toString('utf8')) as OciManifest;
  const cfg = JSON.parse((await ctx.source.readBlob(manifest.config.digest)).toString('utf8')) as AptConfig;
  const mapped = mapAptRepo(cfg.url, target);
  const root = path.join(target.dir, mapped.path);
  let key: SigningKey | undefined;
  if (cfg.mode === 'filtered') {
    if (!target.signingKey) {
      throw new FerryError('VALIDATION', `apt[${cfg.name}] ${cfg.url}: a filtered mirror is re-signed, but the target's apt: has no signingKey`, {
        hint: 'Set apt.signingKey to the site\'s armored OpenPGP private key (gpg --export-secret-keys --armor <id>).',
      });
    }
    key = await readSigningKey(target.signingKey, process.env.FERRY_SIGNING_PASSPHRASE, `apt[${cfg.name}]`);
  }
  const packages = manifest.layers.filter((l) => l.annotations?.[ROLE] === 'package');
  const total = packages.reduce((n, l) => n + l.size, 0);
  const task = ctx.progress.start(`apt[${cfg.name}] ${packages.length} packages`, total);
  let poolSent = 0;
  await mapLimit(packages, ctx.concurrency, async (l) => {
    const title = safePoolPath(l.annotations?.[ANNOTATION.title] ?? '', `apt[${cfg.name}]`);
    const n = await writeBlob(l, path.join(root, title), ctx);
    poolSent += n;
    task.advance(l.size);
  });
  task.finish();
  const results: ImportResult[] = [];
  for (const s of cfg.suites) {
    const sent = cfg.mode === 'whole' ? await importWhole(root, s.suite, manifest.layers, ctx) : await importFiltered(root, s, cfg, manifest.layers, key!, ctx);
    results.push({ artifact: `${cfg.url} ${s.suite}`, location: `${mapped.url} ${s.suite}`, bytesSent: sent, skipped: sent === 0 && poolSent === 0 });
  }
  if (results.length) results[0].bytesSent += poolSent;
  if (key) {
    await writeSmall(path.join(target.dir, `${SITE_KEY_NAME}.asc`), Buffer.from(publicKeyArmored(key)));
    await writeSmall(path.join(target.dir, `${SITE_KEY_NAME}.gpg`), Buffer.from(publicKeyBinary(key)));
  }
  return results;
}
