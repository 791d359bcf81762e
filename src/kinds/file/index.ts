import { hostOfUrl, mapFileUrl, type MirrorPlace } from '../../mapping/index.js';
import { listField, type KindModule, type UpstreamRefBase } from '../types.js';
import { FileSpecSchema, type FileSpec } from './spec.js';
import { FileLockSchema, type FileLock } from './lock.js';
import { resolveFiles } from './resolve.js';
import { fetchFile, fileFetchPlan } from './fetch.js';
import { fileImportNeeds, importFile, importFileBlobs, unlockedFileTop, validateFileImport } from './import.js';
import { fileServeRoutes } from './serve.js';
import { ROLE } from './artifact.js';
import { ANNOTATION } from '../../store/source.js';
import { safeJoin } from '../../store/safe-path.js';
import { MAX_MANIFEST_BYTES } from '../../store/layout.js';
import type { OciDescriptor } from '../../oci/media-types.js';
import { trimTrailing } from '../../ui/escape.js';
import { fileLockDiff } from './lock-diff.js';

/** A file by its upstream URL (the file itself, its checksum file, its signature). */
export type FileRef = UpstreamRefBase<'file'>;

/** The file, its checksum file and the checksum file's signature: each is carried and imported. */
const fileReferences = (entry: FileLock): FileRef[] => [
  { kind: 'file', upstream: entry.url },
  ...(entry.checksums ? [{ kind: 'file' as const, upstream: entry.checksums.file.url }] : []),
  ...(entry.checksums?.signature ? [{ kind: 'file' as const, upstream: entry.checksums.signature.url }] : []),
];

/** Single files over HTTP(S), pinned by sha256, with optional upstream checksums and signatures. */
export const fileKind = {
  name: 'file',
  field: 'files',
  specSchema: FileSpecSchema,
  lockSchema: FileLockSchema,
  manifestShape: listField('files', FileSpecSchema),
  lockShape: listField('files', FileLockSchema),
  expandVars: true,
  referencedFiles: (spec) => spec.checksums?.keys ?? [],
  resolveItems: (specs) => new Set(specs.map((f) => f.name)).size,
  upstreamHosts: (spec) => {
    const host = hostOfUrl(spec.url);
    return host ? [{ host, item: spec.url }] : [];
  },
  targetFacet: { anyOf: ['files'], add: 'files: { dir, baseUrl }', noun: 'files' },
  resolve: resolveFiles,
  fetch: fetchFile,
  fetchPlan: fileFetchPlan,
  importTo: importFile,
  importBlobs: importFileBlobs,
  validateImport: validateFileImport,
  importNeeds: fileImportNeeds,
  unlockedTop: unlockedFileTop,
  differentialPayload: async (top, read) => ((await read(top)).layers ?? []).filter((l) => l?.annotations?.[ROLE] === 'file'),
  async heldOnTarget(top, digests, source, target) {
    const files = target.files;
    if (!files) return [];
    const manifest = JSON.parse((await source.readBlob(top.digest, MAX_MANIFEST_BYTES)).toString('utf8')) as { layers?: OciDescriptor[] };
    return (manifest.layers ?? []).flatMap((layer) => {
      const url = layer.annotations?.[ANNOTATION.source];
      if (!digests.has(layer.digest) || typeof url !== 'string') return [];
      return [{ digest: layer.digest, label: url, file: safeJoin(files.dir, mapFileUrl(url, files).path, url) }];
    });
  },
  references: fileReferences,
  locations(entry, m) {
    return this.references(entry).map((ref) => ({ ref, places: m.files ? [{ facet: 'files' as const, url: mapFileUrl(ref.upstream, m.files) }] : [] }));
  },
  serveRoutes: fileServeRoutes,
  lockDiff: fileLockDiff,
  presentation: {
    countNoun: 'files',
    countNounOne: 'file',
    bundleTable: {
      title: 'Files',
      nameColumn: 'Upstream',
      versionColumn: 'Version',
      row: (f) => ({
        name: f.url,
        version: f.checksums?.signedBy ? `signed checksums (${f.checksums.signedBy.slice(-16)})` : '',
        digest: f.sha256 ? `sha256:${f.sha256}` : f.sha512 ? `sha512:${f.sha512.slice(0, 64)}…` : '',
        size: f.size,
      }),
    },
    auditCarried({ specs, target }) {
      // The checksum file and its signature are carried and imported beside the file too.
      const urls = new Set(specs.flatMap((f) => [f.url, f.checksums?.url, f.checksums?.signature].filter((u): u is string => Boolean(u))));
      return (r) =>
        (r.kind === 'url' || r.kind === 'apt') && urls.has(r.value)
          ? { mirror: target?.files ? mapFileUrl(r.value, target.files).url : undefined, asWritten: { why: 'a download (curl, wget, cloud-init, a program) fetches the URL as written: nothing redirects it to the mirror', rewrite: '`ferry rewrite catalogue <file> --format text`' } }
          : undefined;
    },
    mirrorLookups(locked, target) {
      const files = new Map<string, string>();
      const fileOrigins = new Set<string>();
      // The file, its checksum file and the signature: import writes each where the mapping says,
      // so a catalogue (Packer's `iso_checksum = "file:…/SHA256SUMS"`) can point at all three.
      for (const url of locked.flatMap((f) => fileReferences(f).map((r) => r.upstream))) {
        if (!url) continue;
        try {
          fileOrigins.add(new URL(url).origin);
        } catch {
          continue;
        }
        if (target.files) files.set(url, mapFileUrl(url, target.files).url);
      }
      const lookupFileUrl = (url: string) => {
        if (target.files && url.startsWith(trimTrailing(target.files.baseUrl, '/') + '/')) return 'mirror' as const;
        return files.get(url);
      };
      return { lookupFileUrl, fileOrigins };
    },
  },
} satisfies KindModule<FileSpec, FileLock, FileRef, Extract<MirrorPlace, { facet: 'files' }>>;
