import path from 'node:path';
import { mapAptRepo } from '../../mapping/index.js';
import { publicKeyArmored, readSigningKey, signClear, signDetachedArmored, type SigningKey } from '../../net/pgp.js';
import type { OciManifest } from '../../oci/media-types.js';
import type { ServeRoute, ServeRouteContext } from '../../oci/registry-server.js';
import { ANNOTATION } from '../../store/source.js';
import { ROLE } from '../file/artifact.js';
import { answer, type ServedEntry } from '../file/serve.js';
import { parseRelease } from './control.js';
import type { AptConfig } from './fetch.js';
import { byHashPath, byHashTypes, filteredDescription, generatedIndexes, SITE_KEY_NAME } from './import.js';
import { filteredSuite, sha256 } from './publish.js';
import { releaseTextOf } from './repo.js';

/** Where `ferry serve` puts APT trees: `<server>/apt/<host>/<path>/{dists,pool}`, as a target with that baseUrl maps them. */
export const APT_PREFIX = '/apt/';

/**
 * Serve every APT repository of a bundle or layout as a standard tree. Whole mirrors keep the
 * vendor's signed metadata; filtered ones are signed with the target's apt.signingKey when
 * `ferry serve --target` names one, and served with an unsigned Release otherwise.
 */
export async function aptServeRoutes(ctx: ServeRouteContext & { target?: { target: { apt?: { signingKey?: string } }; dir: string } }): Promise<ServeRoute[]> {
  const paths = new Map<string, ServedEntry>();
  let key: SigningKey | undefined;
  const keyFile = ctx.target?.target.apt?.signingKey;
  for (const top of ctx.index.manifests) {
    if (top.annotations?.[ANNOTATION.kind] !== 'apt') continue;
    const manifest = JSON.parse((await ctx.source.readBlob(top.digest)).toString('utf8')) as OciManifest;
    const cfg = JSON.parse((await ctx.source.readBlob(manifest.config.digest)).toString('utf8')) as AptConfig;
    const root = mapAptRepo(cfg.url, { baseUrl: 'http://ferry.invalid' }).path;
    for (const l of manifest.layers) {
      const role = l.annotations?.[ROLE];
      const title = l.annotations?.[ANNOTATION.title];
      if (!title || role === 'upstream-release' || role === 'generated-index') continue;
      paths.set(`${root}/${title}`, { digest: l.digest, size: l.size });
    }
    for (const s of cfg.suites) {
      const prefix = `dists/${s.suite}/`;
      if (cfg.mode === 'whole') {
        const rels = manifest.layers.filter((l) => l.annotations?.[ROLE] === 'release' && l.annotations[ANNOTATION.title].startsWith(prefix));
        const main = rels.find((l) => l.annotations![ANNOTATION.title].endsWith('/InRelease')) ?? rels[0];
        if (!main) continue;
        const rel = parseRelease(releaseTextOf(await ctx.source.readBlob(main.digest)));
        if (!rel.acquireByHash) continue;
        for (const idx of manifest.layers.filter((l) => l.annotations?.[ROLE] === 'index' && l.annotations[ANNOTATION.title].startsWith(prefix))) {
          const relPath = idx.annotations![ANNOTATION.title].slice(prefix.length);
          for (const type of byHashTypes(rel.hashes, relPath)) {
            paths.set(`${root}/${prefix}${byHashPath(relPath, type, rel.hashes.get(type)!.get(relPath)!.hash)}`, { digest: idx.digest, size: idx.size });
          }
        }
      } else {
        if (keyFile && !key) key = await readSigningKey(path.resolve(ctx.target!.dir, keyFile), process.env.FERRY_SIGNING_PASSPHRASE, `apt[${cfg.name}]`);
        const k = key;
        const suite = await filteredSuite(
          s,
          await generatedIndexes(s.suite, manifest.layers, (d) => ctx.source.readBlob(d)),
          filteredDescription(cfg),
          k ? { clear: (t) => signClear(t, k), detached: (b) => signDetachedArmored(b, k) } : undefined,
        );
        for (const i of suite.indexes) {
          paths.set(`${root}/${prefix}${i.path}`, { bytes: Buffer.from(i.bytes) });
          paths.set(`${root}/${prefix}${byHashPath(i.path, 'SHA256', sha256(i.bytes))}`, { bytes: Buffer.from(i.bytes) });
        }
        paths.set(`${root}/${prefix}Release`, { bytes: Buffer.from(suite.release) });
        if (suite.inRelease) paths.set(`${root}/${prefix}InRelease`, { bytes: Buffer.from(suite.inRelease) });
        if (suite.releaseGpg) paths.set(`${root}/${prefix}Release.gpg`, { bytes: Buffer.from(suite.releaseGpg) });
      }
    }
  }
  if (!paths.size) return [];
  if (key) paths.set(`${SITE_KEY_NAME}.asc`, { bytes: Buffer.from(publicKeyArmored(key)) });
  return [{ prefix: APT_PREFIX, handle: (req, res, rest) => answer(ctx, req, res, paths.get(rest)) }];
}
