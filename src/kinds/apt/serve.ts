import { mapAptRepo, mapAptSiteKey } from '../../mapping/index.js';
import { publicKeyArmored, publicKeyBinary, readSigningKey, signClear, signDetachedArmored, type SigningKey } from '../../net/pgp.js';
import { FerryError } from '../../errors.js';
import type { OciDescriptor } from '../../oci/media-types.js';
import type { ServeRoute, ServeRouteContext } from '../serve-route.js';
import { ANNOTATION } from '../../store/source.js';
import { ROLE } from '../file/artifact.js';
import { addServedPath, answer, type ServedEntry } from '../file/serve.js';
import { parseRelease } from './control.js';
import { aptClashes, byHashPath, byHashTypes, filteredDescription, generatedIndexes, readAptArtifact } from './import.js';
import { filteredSuite, sha256 } from './publish.js';
import { mainRelease, releaseTextOf } from './repo.js';
import { checkFlatPackages } from './suite-version.js';
import { suitePrefix } from './spec.js';

/** Where `ferry serve` puts APT trees: `<server>/apt/<host>/<path>/{dists,pool}`, as a target with that baseUrl maps them. */
export const APT_PREFIX = '/apt/';

/** Release files and generated indexes are read whole (and kept, for filtered suites): at most this each. */
const MAX_APT_METADATA_BYTES = 64 * 1024 * 1024;

/**
 * Serve every APT repository of a bundle or layout as a standard tree. Whole mirrors keep the
 * vendor's signed metadata; filtered ones are signed with the target's apt.signingKey when
 * `ferry serve --target` names one, and served with an unsigned Release otherwise. Every byte
 * read from the bundle is checked against its digest first (nothing tampered is ever signed);
 * a repository that cannot be served is skipped with a warning, the others are served.
 */
export async function aptServeRoutes(ctx: ServeRouteContext): Promise<ServeRoute[]> {
  const paths = new Map<string, ServedEntry>();
  let key: SigningKey | undefined;
  const keyFile = ctx.target?.apt?.signingKey;
  const read = (digest: string, label: string) => ctx.source.readBlob(digest, MAX_APT_METADATA_BYTES, label);
  for (const top of ctx.index.manifests) {
    if (top.annotations?.[ANNOTATION.kind] !== 'apt') continue;
    const artifact = top.annotations?.[ANNOTATION.source] ?? top.digest;
    // Collected per repository and added only when all of it could be built.
    const mine = new Map<string, ServedEntry>();
    const unsigned: string[] = [];
    const add = (p: string, entry: ServedEntry) => addServedPath(ctx, mine, p, entry, artifact);
    // Import's rule: one upstream URL per repository root, none inside another; a clash serves neither.
    const clash = (await aptClashes(ctx.source)).get(top.digest);
    if (clash) {
      ctx.warnings.push(`${artifact}: APT repository not served (${clash.join('; ')})`);
      continue;
    }
    try {
      // One manifest or an index of parts (artifact.ts): the same layer list either way, digest-checked.
      const { manifest, cfg } = await readAptArtifact(top, ctx.source);
      const root = mapAptRepo(cfg.url, { baseUrl: 'http://ferry.invalid' }).path;
      // A flat repository's packages never stand where its metadata is served (as import checks).
      const packageTitles = manifest.layers.filter((l) => l.annotations?.[ROLE] === 'package').map((l) => String(l.annotations?.[ANNOTATION.title] ?? ''));
      for (const s of cfg.suites) checkFlatPackages(packageTitles, s.suite, `${artifact} ${s.suite}`);
      const titleOf = (l: OciDescriptor) => {
        const t = l?.annotations?.[ANNOTATION.title];
        return typeof t === 'string' ? t : undefined;
      };
      for (const l of manifest.layers) {
        const role = l.annotations?.[ROLE];
        const title = titleOf(l);
        if (!title || role === 'upstream-release' || role === 'generated-index') continue;
        add(`${root}/${title}`, { digest: l.digest, size: l.size });
      }
      for (const s of cfg.suites) {
        const prefix = suitePrefix(s.suite);
        if (cfg.mode === 'whole') {
          const rels = manifest.layers.filter((l) => l.annotations?.[ROLE] === 'release' && titleOf(l)?.startsWith(prefix));
          const main = mainRelease(rels, titleOf) ?? rels[0];
          if (!main) continue;
          const rel = parseRelease(releaseTextOf(await read(main.digest, `${artifact} ${titleOf(main)}`)));
          // By-hash copies whether or not the Release says Acquire-By-Hash, as import writes them (for `[by-hash=force]` clients).
          for (const idx of manifest.layers.filter((l) => l.annotations?.[ROLE] === 'index' && titleOf(l)?.startsWith(prefix))) {
            const relPath = titleOf(idx)!.slice(prefix.length);
            for (const type of byHashTypes(rel.hashes, relPath)) {
              add(`${root}/${prefix}${byHashPath(relPath, type, rel.hashes.get(type)!.get(relPath)!.hash)}`, { digest: idx.digest, size: idx.size });
            }
          }
        } else {
          if (keyFile && !key) key = await readSigningKey(keyFile, process.env.FERRY_SIGNING_PASSPHRASE, `apt[${cfg.name}]`);
          const k = key;
          const suite = await filteredSuite(
            s,
            await generatedIndexes(s.suite, manifest.layers, (d) => read(d, `${artifact} generated index`)),
            filteredDescription(cfg),
            k ? { clear: (t) => signClear(t, k), detached: (b) => signDetachedArmored(b, k) } : undefined,
          );
          for (const i of suite.indexes) {
            const entry = { bytes: Buffer.from(i.bytes) };
            add(`${root}/${prefix}${i.path}`, entry);
            add(`${root}/${prefix}${byHashPath(i.path, 'SHA256', sha256(i.bytes))}`, entry);
          }
          add(`${root}/${prefix}Release`, { bytes: Buffer.from(suite.release) });
          if (!k) unsigned.push(s.suite);
          if (suite.inRelease) add(`${root}/${prefix}InRelease`, { bytes: Buffer.from(suite.inRelease) });
          if (suite.releaseGpg) add(`${root}/${prefix}Release.gpg`, { bytes: Buffer.from(suite.releaseGpg) });
        }
      }
    } catch (err) {
      // A missing or unreadable site key is the operator's to fix, not the bundle's: say so loudly.
      if (err instanceof FerryError && err.code !== 'VERIFY' && err.code !== 'NOT_FOUND') throw err;
      ctx.warnings.push(`${artifact}: APT repository not served (${(err as Error).message})`);
      continue;
    }
    for (const [p, e] of mine) paths.set(p, e);
    if (!keyFile && unsigned.length) {
      // apt refuses an unsigned Release ("is not signed"): say so here, not at the client.
      ctx.warnings.push(
        `${artifact} ${unsigned.join(', ')}: a filtered mirror, served with an unsigned Release that apt refuses ("not signed"): pass --target <target.yaml> whose apt.signingKey signs it (clients then use ${APT_PREFIX}${mapAptSiteKey('asc').path})`,
      );
    }
  }
  if (!paths.size) return [];
  // Both forms, as import writes them: `rewrite apt-sources` sends clients to the binary one (a
  // .gpg keyring, its default) or the armored one (a .asc keyring).
  if (key) {
    paths.set(mapAptSiteKey('asc').path, { bytes: Buffer.from(publicKeyArmored(key)) });
    paths.set(mapAptSiteKey('gpg').path, { bytes: Buffer.from(publicKeyBinary(key)) });
  }
  return [{ prefix: APT_PREFIX, handle: (req, res, rest) => answer(ctx, req, res, paths.get(rest)) }];
}
