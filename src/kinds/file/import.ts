import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FerryError } from '../../errors.js';
import { mapFileUrl } from '../../mapping/index.js';
import type { OciDescriptor, OciManifest } from '../../oci/media-types.js';
import { ANNOTATION } from '../../store/source.js';
import type { ImportContext, ImportResult } from '../types.js';
import { ROLE } from './artifact.js';
import { formatChecksumLine } from './checksums.js';
import { hasSameContent, writeVerified } from './download.js';
import { baseName, SHA512_ANNOTATION } from './fetch.js';

export function filesTarget(ctx: ImportContext): { dir: string; baseUrl: string } {
  const t = ctx.target.target.files;
  if (!t) {
    throw new FerryError('VALIDATION', `${ctx.target.file}: the bundle carries files but the target has no files: { dir, baseUrl }`, {
      hint: 'Add a files: section to the mirror target.',
    });
  }
  return { dir: path.resolve(ctx.target.dir, t.dir), baseUrl: t.baseUrl };
}

/** Write every layer of a file artifact under its mapped path (upstream host + path), plus `<file>.sha256`. */
export async function importFile(top: OciDescriptor, ctx: ImportContext): Promise<ImportResult[]> {
  const target = filesTarget(ctx);
  const manifest = JSON.parse((await ctx.source.readBlob(top.digest)).toString('utf8')) as OciManifest;
  const results: ImportResult[] = [];
  for (const layer of manifest.layers) {
    const url = layer.annotations?.[ANNOTATION.source];
    if (!url) throw new FerryError('VERIFY', `file artifact ${top.digest}: layer ${layer.digest} has no ${ANNOTATION.source}`);
    const mapped = mapFileUrl(url, target);
    const dest = path.join(target.dir, mapped.path);
    let sent = 0;
    const skipped = await hasSameContent(dest, layer.digest, layer.size);
    if (!skipped) {
      const task = ctx.progress.start(baseName(url), layer.size);
      sent = await writeVerified(await ctx.source.openBlob(layer.digest), dest, layer.digest, `${url} → ${dest}`, (n) => task.advance(n));
      task.finish();
    }
    if (layer.annotations?.[ROLE] === 'file') {
      const sha512 = layer.annotations?.[SHA512_ANNOTATION];
      await writeSidecar(`${dest}.sha256`, formatChecksumLine(layer.digest.slice(7), path.basename(dest)));
      if (sha512) await writeSidecar(`${dest}.sha512`, formatChecksumLine(sha512, path.basename(dest)));
      results.push({ artifact: url, location: mapped.url, bytesSent: sent, skipped });
    }
  }
  return results;
}

async function writeSidecar(file: string, line: string): Promise<void> {
  if ((await readFile(file, 'utf8').catch(() => '')) === line) return;
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(`${file}.tmp`, line);
  await rename(`${file}.tmp`, file);
}
