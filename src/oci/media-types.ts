import { FerryError } from '../errors.js';

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  helmConfig: 'application/vnd.cncf.helm.config.v1+json',
  helmChart: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip',
  helmProv: 'application/vnd.cncf.helm.chart.provenance.v1.prov',
} as const;

/** Every manifest type, offered on every manifest GET (a registry answers 404 for a type not offered). */
export const MANIFEST_ACCEPT = [MT.ociIndex, MT.ociManifest, MT.dockerManifestList, MT.dockerManifest].join(', ');

export function isIndexType(mediaType: string | undefined): boolean {
  return mediaType === MT.ociIndex || mediaType === MT.dockerManifestList;
}

export function isManifestType(mediaType: string | undefined): boolean {
  return mediaType === MT.ociManifest || mediaType === MT.dockerManifest || isIndexType(mediaType);
}

export interface OciDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string; 'os.version'?: string };
  annotations?: Record<string, string>;
  artifactType?: string;
}

export interface OciIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: OciDescriptor[];
  annotations?: Record<string, string>;
}

export interface OciManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: OciDescriptor;
  layers: OciDescriptor[];
  subject?: OciDescriptor;
  annotations?: Record<string, string>;
}

const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;

/** A media type as the OCI image spec's descriptor schema allows it (RFC 6838 names: type/subtype, with +suffix and dots). */
export const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

/** A descriptor ferry can act on: a sha256 digest (the only one its store keys by) and a real size. */
export function isDescriptor(d: unknown): d is OciDescriptor {
  const o = d as OciDescriptor | null;
  return typeof o === 'object' && o !== null && typeof o.digest === 'string' && SHA256_DIGEST.test(o.digest) && Number.isSafeInteger(o.size) && o.size >= 0;
}

/** A descriptor named in a message: its digest, quoted and cut short (it came from outside). */
function descLabel(d: unknown): string {
  const digest = (d as { digest?: unknown } | null)?.digest;
  return JSON.stringify(typeof digest === 'string' ? digest.slice(0, 80) : (digest ?? null));
}

/**
 * A manifest or index received from a registry, checked before anything acts on it: a JSON
 * object whose descriptors (index children, config, layers) each carry a sha256 digest and a
 * non-negative size. Anything else (not JSON, `sha256:../../x`, a sha512 or md5 digest, a
 * negative or astronomic size) is a VERIFY error naming the artifact and the descriptor.
 */
export function checkManifestJson(bytes: Uint8Array, what: string): void {
  let j: { manifests?: unknown; config?: unknown; layers?: unknown };
  try {
    j = JSON.parse(Buffer.from(bytes).toString('utf8')) as typeof j;
  } catch (err) {
    throw new FerryError('VERIFY', `${what}: manifest is not valid JSON (${(err as Error).message.slice(0, 120)})`, { hint: 'The registry (or something in between) answered something that is not an image manifest; nothing was kept.' });
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new FerryError('VERIFY', `${what}: manifest is not a JSON object`);
  const bad = (field: string, d: unknown) =>
    new FerryError('VERIFY', `${what}: manifest ${field} ${descLabel(d)} is not a valid descriptor (a sha256 digest and a non-negative size are required)`, {
      hint: 'The registry answered a manifest ferry cannot act on safely; nothing was kept.',
    });
  const list = (field: 'manifests' | 'layers') => {
    const v = j[field];
    if (v === undefined) return;
    if (!Array.isArray(v)) throw bad(field, v);
    v.forEach((d, i) => {
      if (!isDescriptor(d)) throw bad(`${field}[${i}]`, d);
    });
  };
  if (j.manifests === undefined && j.config === undefined) throw new FerryError('VERIFY', `${what}: neither an image manifest (config, layers) nor an index (manifests)`);
  list('manifests');
  if (j.config !== undefined && !isDescriptor(j.config)) throw bad('config', j.config);
  list('layers');
}

/**
 * The media type a manifest is taken as (the server's Content-Type, or the JSON's when that is
 * vague), checked against the body: an index type needs a `manifests` list, an image manifest a
 * `config`, and a `mediaType` the body states must be that type. A Content-Type that says index
 * over an image manifest's bytes would otherwise pin an image with no blobs at all.
 */
export function manifestMediaType(bytes: Uint8Array, contentType: string | undefined, what: string): string {
  const mediaType = sniffMediaType(bytes, contentType);
  const j = JSON.parse(Buffer.from(bytes).toString('utf8')) as { mediaType?: unknown; manifests?: unknown; config?: unknown };
  const stated = typeof j.mediaType === 'string' ? j.mediaType : undefined;
  const problem =
    stated !== undefined && isManifestType(stated) && stated !== mediaType
      ? `the registry sent it as ${mediaType}, but the manifest says it is ${stated}`
      : isIndexType(mediaType) && !Array.isArray(j.manifests)
        ? `the registry sent it as ${mediaType}, but it lists no manifests`
        : isManifestType(mediaType) && !isIndexType(mediaType) && j.config === undefined
          ? `the registry sent it as ${mediaType}, but it has no config`
          : undefined;
  if (problem) {
    throw new FerryError('VERIFY', `${what}: ${problem}`, { hint: 'The registry (or something in between) answered a manifest whose type and content disagree; nothing was kept.' });
  }
  return mediaType;
}

/** Media type from the JSON when the server's Content-Type is vague. */
export function sniffMediaType(bytes: Uint8Array, contentType?: string): string {
  const ct = contentType?.split(';')[0].trim();
  if (ct && isManifestType(ct)) return ct;
  try {
    const j = JSON.parse(Buffer.from(bytes).toString('utf8')) as { mediaType?: string; manifests?: unknown; config?: unknown };
    if (j.mediaType) return j.mediaType;
    if (j.manifests) return MT.ociIndex;
    if (j.config) return MT.ociManifest;
  } catch {
    /* fall through */
  }
  return ct ?? 'application/octet-stream';
}

export function platformString(p: OciDescriptor['platform']): string {
  if (!p) return 'unknown';
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}
