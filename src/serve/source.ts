import { stat } from 'node:fs/promises';
import path from 'node:path';
import { FerryError, isFerryError } from '../errors.js';
import { BundleReader } from '../store/bundle-reader.js';
import { readListedJson } from '../store/bundle-sign.js';
import { differentialServeSource, readDifferential } from '../store/differential.js';
import { LayoutDir } from '../store/layout.js';
import { isOciUrl, openBundleSource, type BundleSource } from '../store/open-bundle.js';
import type { BlobSource } from '../store/source.js';
import type { NetOptions } from '../oci/context.js';
import { SplitFile } from '../store/split-file.js';

export interface ServeSource {
  source: BlobSource;
  kind: 'bundle' | 'layout';
  close(): Promise<void>;
  /** A directory target: changes when its index.json does, so the catalog is rebuilt. */
  indexVersion?: () => Promise<string | undefined>;
  /** Said once when opened (a `--base` a full bundle does not need). */
  warnings: string[];
  /** A bundle's ferry/lock.json, parsed (checked against ferry/checksums.sha256 first); a directory target has none. */
  readLock?: () => Promise<unknown>;
  /**
   * A split bundle's parts, checked against its .parts list after serving starts (`hashParts`,
   * stopped by `close`); `places` answers, for a blob, the part it lies in and whether that part
   * was found not to match.
   */
  parts?: { places: BlobPlaces; check(onWarning: (message: string) => void): void };
  /** A bundle: what was opened, the bundle and a differential's base (`serve --verify` checks these very readers, not the paths again). */
  opened?: { bundle: BundleSource; base?: BundleSource };
}

/** Where a served blob lies in a split bundle: what `VerifiedBlobs` names and refuses by. */
export interface BlobPlaces {
  /** `part 003 of 7 (app.ferry.tar.003)`, or undefined for a blob not in the split tar. */
  where(digest: string): string | undefined;
  /** Why the blob is refused (a part it lies in does not match the .parts list), or undefined. */
  refusal(digest: string): string | undefined;
}

/**
 * The parts of the split bundle tars served (the bundle, and a differential's `--base`), hashed
 * in the background (one read of each, 1 MiB at a time, through the descriptors they are served
 * from) once `check` is called: a part that does not match its .parts list is warned about,
 * naming it and its bundle, and every blob lying in it is refused from then on. `readers` in the
 * order blobs are picked from (a blob is answered from the first that holds it). Nothing when
 * none is split.
 */
function splitParts(readers: Array<{ reader: BundleSource; label: string }>): { parts?: ServeSource['parts']; stop(): Promise<void> } {
  const split = readers.flatMap(({ reader }) => (reader instanceof BundleReader && reader.file instanceof SplitFile ? [{ reader, file: reader.file }] : []));
  if (!split.length) return { stop: async () => {} };
  const abort = new AbortController();
  let running: Promise<void> | undefined;
  /** The bundle a blob is served from, when split, and where the blob lies in it. */
  const locate = (digest: string) => {
    if (!/^sha256:[a-f0-9]{64}$/.test(digest)) return undefined;
    const name = `blobs/sha256/${digest.slice('sha256:'.length)}`;
    const holder = readers.find((r) => r.reader.entry(name));
    const e = holder?.reader.entry(name);
    if (!holder || !e || !(holder.reader instanceof BundleReader) || !(holder.reader.file instanceof SplitFile)) return undefined;
    return { file: holder.reader.file, label: holder.label, start: e.offset, end: e.offset + Math.max(e.size, 1) - 1 };
  };
  const places: BlobPlaces = {
    where: (d) => {
      const at = locate(d);
      return at && `${at.file.partsAt(at.start, at.end)}${at.label}`;
    },
    refusal: (d) => {
      const at = locate(d);
      const bad = at && at.file.badPartIn(at.start, at.end);
      return bad && `it lies in ${at.file.partsAt(at.start, at.end)}${at.label}, and ${bad.message}: the part is not the one this bundle was made with; copy ${path.basename(bad.file)} again from the source and reload (SIGHUP)`;
    },
  };
  const check = (onWarning: (message: string) => void) => {
    running ??= (async () => {
      for (const { reader, file } of split) {
        const name = reader === readers[0].reader ? reader.path : `--base ${reader.path}`;
        await file
          .hashParts(abort.signal, (p) => onWarning(`${name}: ${p.message}; blobs in it are refused from now on: copy ${path.basename(p.file)} again from the source (sha256sum -c on the .parts file checks them) and reload (SIGHUP)`))
          .catch((err: unknown) => onWarning(`${name}: checking the parts against the .parts list stopped (${(err as Error).message})`));
      }
    })();
  };
  return {
    parts: { places, check },
    stop: async () => {
      abort.abort();
      await running;
    },
  };
}

/**
 * Open what `serve` serves: a bundle tar (its format version checked first), a bundle pushed to
 * a registry (`oci://…`), or an OCI layout directory. A differential bundle needs its `base`.
 */
export async function openServeSource(location: string, base?: string, net?: NetOptions): Promise<ServeSource> {
  if (isOciUrl(location)) {
    return bundleServeSource(await openBundleSource(location, net), base, net);
  }
  const abs = path.resolve(location);
  let s;
  try {
    s = await stat(abs);
  } catch {
    throw new FerryError('USAGE', `${abs}: no such bundle or directory`, { hint: 'Pass a bundle .tar (ferry bundle create) or a directory target written by ferry import.' });
  }
  if (s.isDirectory()) {
    const layout = new LayoutDir(abs);
    // A directory that is not an OCI layout is a wrong argument (exit 2), not a missing artifact upstream.
    await layout.readIndex().catch((err) => {
      throw isFerryError(err, 'NOT_FOUND') ? new FerryError('USAGE', err.message, { hint: `${err.hint} A files:, charts: or apt: directory of a target is a plain tree for any web server; \`ferry serve <bundle>\` serves them at /files/, /charts/ and /apt/.` }) : err;
    });
    // A directory target may grow while served (another import): pick up a new index.json.
    const indexVersion = () =>
      stat(path.join(abs, 'index.json')).then(
        (st) => `${st.mtimeMs}:${st.size}:${st.ino}`,
        () => undefined,
      );
    return { source: layout, kind: 'layout', close: async () => {}, indexVersion, warnings: base ? [`--base ${base}: ${abs} is a directory target, which needs no base; --base is not used`] : [] };
  }
  return bundleServeSource(await BundleReader.open(abs), base, net);
}

/** A bundle opened from a tar or from a registry (`oci://…`), served the same way. */
async function bundleServeSource(reader: BundleSource, base: string | undefined, net: NetOptions | undefined): Promise<ServeSource> {
  try {
    // Refuse a bundle of another format version (or none) before anything is served from it.
    await reader.info();
    // A full bundle needs no base. `serve` keeps one command line (a systemd unit's ExecStart) across
    // reloads: a site that rolls back from a differential bundle to the full one it was made against
    // serves that one with the same `--base`, which is then not used (said so), not refused.
    const warnings: string[] = [];
    if (base && !(await readDifferential(reader))) {
      warnings.push(`--base ${base}: ${reader.path} is a full bundle; it needs no base, so --base is not used`);
      base = undefined;
    }
    // A differential bundle is served only with its base (--base, a tar or oci://), blobs answered from either.
    const diff = await differentialServeSource(reader, base, net);
    const readLock = () => readListedJson(reader, 'ferry/lock.json', 'not serving it');
    // A split bundle's parts, and a split base's, are checked against their .parts lists alike.
    const split = splitParts([{ reader, label: '' }, ...(diff.base ? [{ reader: diff.base, label: ` of the --base bundle ${diff.base.path}` }] : [])]);
    const close = () => split.stop().finally(() => diff.close().finally(() => reader.close()));
    return { source: diff.source, kind: 'bundle', close, warnings, readLock, opened: { bundle: reader, ...(diff.base ? { base: diff.base } : {}) }, ...(split.parts ? { parts: split.parts } : {}) };
  } catch (err) {
    await reader.close();
    throw err;
  }
}
