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
