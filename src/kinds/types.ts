import { z } from 'zod';
import type { BlobStore } from '../store/blob-store.js';
import type { BlobSource } from '../store/source.js';
import type { OciDescriptor } from '../oci/media-types.js';
import type { Progress } from '../ui/progress.js';
import type { ResolvedTarget } from '../manifest/resolved-target.js';
import type { MirrorTarget } from '../manifest/target.js';
import type { HttpClient } from '../net/http.js';
import type { RegistryClient } from '../oci/client.js';
import type { RegistryPushSession } from '../oci/push-session.js';
import type { LayoutWriters } from '../store/layout.js';
import type { StagedBlobs } from '../store/staged-blobs.js';
import type { ImportProblem } from './import-checks.js';
import type { MirrorMapping, MirrorPlace, RegistryMapping } from '../mapping/index.js';
import type { ImageReference } from '../oci/reference.js';
import type { ServeRouteProvider } from './serve-route.js';
import type { HeldPlace, ReadManifest } from './differential.js';
import { trimTrailing } from '../ui/escape.js';

/**
 * Every kind (image, chart, file, apt, endpoint) is one folder whose index.ts exports one
 * KindModule, registered in the KINDS list of src/kinds/index.ts. Everything that iterates
 * kinds (the manifest and lock schemas, lock, bundle create, the import facet check, map,
 * serve routes, audit) goes through that list.
 */
export interface KindContext {
  /** Directory relative paths in the manifest resolve against. */
  manifestDir: string;
  store: BlobStore;
  progress: Progress;
  /** Bounded concurrency for downloads and pushes. */
  concurrency: number;
  /** HTTP with the user's proxy and CA settings. */
  http: HttpClient;
  /** OCI distribution client for upstream registries (credentials from the docker config). */
  registry: RegistryClient;
  /** `--no-extras`: images resolve without signatures, attestations, SBOMs and referrers. */
  noExtras?: boolean;
  /** Warnings for the command's result (the CLI prints them, escaped); without it they go to progress. */
  warnings?: string[];
  /** The manifest's own `images:` references (normalized), for checks on what charts bring. */
  listedImages?: string[];
  /** The manifest's top-level `platforms:`: what an image or chart entry that gives none is carried for. */
  defaultPlatforms?: string[];
}

export interface ImportContext {
  source: BlobSource;
  target: ResolvedTarget;
  progress: Progress;
  concurrency: number;
  /** Client for the target registry (the target's CA and insecure settings), when the target has one. */
  registry?: RegistryClient;
  /** The one push session of this import (mounts, in-flight uploads, per-repository order); see kinds/registry-push.ts. */
  push?: RegistryPushSession;
  /** index.json writers of the import's layout directories; the command flushes them once at the end. */
  layouts?: LayoutWriters;
  /** Blobs the blob pass staged in directory targets (one read of the bundle); placed by the kinds instead of read again. */
  staged?: StagedBlobs;
  /** Warnings for the command's result (the CLI prints them, escaped); without it they go to progress. */
  warnings?: string[];
  /** Every top-level entry of the bundle, for what one entry cannot decide alone (which of two images a mirror tag names). */
  tops?: readonly OciDescriptor[];
}

export interface ImportResult {
  /** Artifact named as a user would (reference, URL, repository). */
  artifact: string;
  /** Where it went (mirror reference, path, URL). */
  location: string;
  /** Bytes actually transferred (0 when the target had everything). */
  bytesSent: number;
  skipped: boolean;
  /** The digest the mirror's tag named before this import, when it named another manifest (the tag moved). */
  previous?: string;
}

/**
 * An upstream thing a lock entry stands for. Each kind narrows this to its own variant (an
 * image reference with its stored digest, a chart with repo, name and version, a URL); the
 * union of them all is `UpstreamRef` in src/kinds/index.ts.
 */
export interface UpstreamRefBase<K extends string = string> {
  kind: K;
  /** Normalized reference or URL, as `map` shows it. */
  upstream: string;
}

/** Where one upstream thing lives on a mirror: typed places, one per target facet that carries it. */
export interface KindLocation<R extends UpstreamRefBase = UpstreamRefBase, P extends MirrorPlace = MirrorPlace> {
  ref: R;
  places: P[];
}

/** What fetching one lock entry will show and move: known before the fetch phase starts. */
export interface FetchPlan {
  /** The artifact as its user names it: image reference, `chart podinfo 6.5.0`, file URL, `apt[name] suite`. */
  artifact: string;
  /** Bytes of its content (0 = unknown). */
  bytes: number;
}

/** A section of the mirror target (`registry`, `directory`, `charts`, `files`, `apt`). */
export type TargetFacetName = Exclude<keyof MirrorTarget, 'apiVersion' | 'kind' | 'metadata'>;

/** The part of the mirror target a kind's artifacts go to: any one of `anyOf`. */
export interface TargetFacet {
  anyOf: readonly TargetFacetName[];
  /** What to add when the target has none of them (import's message: `add <this>`). */
  add: string;
  /** The artifacts, plural, as import's message names them (`Helm charts`, `APT repositories`). */
  noun: string;
}

/**
 * Specs one kind's resolved entries add to another kind's list, with their origin named
 * (a chart's discovered images join the images, `chart podinfo 6.5.0` as their origin).
 */
export interface Contribution<Entry, Spec> {
  /** Name of the kind the specs join; that kind resolves after this one. */
  to: string;
  from(entry: Entry): { origin: string; specs: Spec[] };
}

/**
 * A URL a manifest names (`pattern` checks its scheme): with no user name or password in it, and
 * no parameter that carries a credential (a token, an API key, a pre-signed URL's signature) in its
 * query, its fragment or a path segment's `;` parameters. ferry writes the URL into the lock and
 * the bundle (its fetch reads it there, and both travel: a lock is committed, a bundle crosses the
 * gap and is stored on both sides) and into messages; a credential there outlives the run. A token
 * goes in `auth:` (a file's `bearerTokenEnv`); a pre-signed URL expires (S3's within 7 days), so a
 * lock could not fetch it again anyway.
 */
export function manifestUrl(pattern: RegExp, message: string) {
  return z
    .string()
    .regex(pattern, message)
    .refine((url) => !hasUserinfo(url), {
      message: 'holds a user name or password, which ferry does not send and would write into the lock and the bundle: remove it from the URL (a file takes auth: { bearerTokenEnv })',
    })
    .superRefine((url, ctx) => {
      const found = credentialParams(url);
      if (!found.length) return;
      const places = (['query', 'fragment', 'path'] as const).flatMap((place) => {
        const names = found.filter((p) => p.place === place).map((p) => JSON.stringify(p.name));
        if (!names.length) return [];
        const listed = names.length > NAMES_LISTED ? [...names.slice(0, NAMES_LISTED), `and ${names.length - NAMES_LISTED} more`] : names;
        return [`${place === 'path' ? 'path (;)' : place} parameter${names.length > 1 ? 's' : ''} ${listed.join(', ')}`];
      });
      ctx.addIssue({
        code: 'custom',
        message:
          `its ${places.join(' and ')} carr${found.length > 1 ? 'y' : 'ies'} a credential (a token, an API key or a signed URL's signature), which ferry would write into the lock and the bundle: ` +
          'name the URL without it and put a token in auth: { bearerTokenEnv } (files), or download a pre-signed URL (it expires) and list the file from a server of yours',
      });
    });
}

/** Credential parameter names a message lists, then `and N more`. */
const NAMES_LISTED = 8;

/**
 * Parameter names that carry a credential, compared lowercased with `-`, `_` and `.` left out
 * (`X-Amz-Signature`, `access_token`, `accessToken` and `ACCESS-TOKEN` alike): any name ending in
 * a token, signature, secret, password or credential word (`private_token`, OAuth's
 * `access_token` and `id_token`, `X-Amz-Security-Token`, `X-Amz-Credential`, `X-Goog-Signature`,
 * CloudFront's `Signature`, `client_secret`), a key named for what it opens (`api_key`, `apikey`,
 * `x-api-key`, `access_key`, `secret_key`, `private_key`, Azure's `subscription-key`,
 * `sas_key`), a session id (`jsessionid`, `PHPSESSID`), and `sig` (Azure SAS), `auth`, `authorization`, `jwt`, `pwd`.
 */
const CREDENTIAL_NAME = /(?:token|signature|secret|passw(?:or)?d|credentials?|sess(?:ion)?id|(?:api|access|secret|private|subscription|account|auth|client|app|sas|signing|session|license|master)key)$|^(?:sig|auth|authorization|jwt|pwd)$/;

/**
 * A bare `key` is Google's API key (`?key=AIza…`) and many services' — but also a name some
 * download links use for what they serve. It counts as a credential when its value looks like a
 * generated secret: Google's `AIza` prefix, or 16 characters or more with no `.` in them (a file
 * name or a version has one); a shorter value or one with a `.` is taken for a name.
 */
function isSecretKeyValue(value: string): boolean {
  return value.startsWith('AIza') || (value.length >= 16 && !value.includes('.'));
}

/** Where in a URL a credential parameter was found: the message names the place and the name. */
export interface CredentialParam {
  place: 'query' | 'fragment' | 'path';
  /** The name as written (percent-decoded), never its value. */
  name: string;
}

/**
 * The credential-carrying parameters of `url`, each name once per place, as written. Read from
 * the URL as written (one linear pass, for a URL the WHATWG parser refuses too): its query (what
 * follows the first `?` up to a `#`, `name=value` pairs cut at `&` and `;`), its fragment (a token
 * in OAuth's implicit flow: `#access_token=…`, pairs cut at `&`, `;` and `?` for a `#/route?…`)
 * and a path segment's `;` parameters (`/repo;token=…/x.deb`). A parameter with an empty value
 * carries nothing.
 */
export function credentialParams(url: string): CredentialParam[] {
  const authority = /^[a-z][a-z0-9+.-]*:(?:[/\\]*[^/?#\\]*)?/i.exec(url)?.[0].length ?? 0;
  const hash = url.indexOf('#', authority);
  const beforeHash = hash < 0 ? url.length : hash;
  const question = url.indexOf('?', authority);
  const pathEnd = question >= 0 && question < beforeHash ? question : beforeHash;
  const found = new Map<string, CredentialParam>();
  const take = (place: CredentialParam['place'], pairs: string[]) => {
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      if (eq <= 0 || eq === pair.length - 1) continue;
      const name = decodeName(pair.slice(0, eq));
      if (!isCredential(name, pair.slice(eq + 1))) continue;
      found.set(`${place} ${name}`, { place, name });
    }
  };
  take('path', url.slice(authority, pathEnd).split(/[/\\]/).flatMap((segment) => segment.split(';').slice(1)));
  if (pathEnd < beforeHash) take('query', url.slice(pathEnd + 1, beforeHash).split(/[&;]/));
  if (hash >= 0) take('fragment', url.slice(hash + 1).split(/[&;?]/));
  return [...found.values()];
}

function decodeName(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}

function isCredential(name: string, rawValue: string): boolean {
  const compact = name.toLowerCase().replace(/[-_.\s]/g, '');
  if (CREDENTIAL_NAME.test(compact)) return true;
  return compact === 'key' && isSecretKeyValue(decodeName(rawValue));
}

/** A user name or password in `url`; for a URL the WHATWG parser refuses, an `@` after something in its authority as written. */
function hasUserinfo(url: string): boolean {
  try {
    const u = new URL(url);
    return u.username !== '' || u.password !== '';
  } catch {
    const userinfo = /^[a-z][a-z0-9+.-]*:[/\\]*([^/?#\\]*)@/i.exec(url)?.[1];
    return userinfo !== undefined && userinfo.replace(/:/g, '') !== '';
  }
}

/** One difference between the lock on disk and the one `ferry lock` writes over it (src/commands/lock-diff.ts). */
export interface LockChange {
  /** The kind's name (`image`, `chart`, …). */
  kind: string;
  change: 'added' | 'removed' | 'updated';
  /** What the kind pins by name: the image repository, the chart (`repo name`), the file name, the APT repository and suite (`name suite`). */
  name: string;
  /** Before and after, as the kind pins it: `tag@digest` for an image, `version (digest)` for a chart, the sha256 for a file. */
  from?: string;
  to?: string;
  /**
   * An image a chart deploys (`images: discover` or its list): the charts (`name version`) that
   * bring it — the new lock's for an added or updated image, the previous lock's for a removed one.
   * At most CHARTS_LISTED names, then `and N more`. Absent for an image only the manifest's `images:` lists.
   */
  charts?: string[];
  /** A chart that is another chart's dependency (not vendored): the charts (`name version`) that need it. */
  dependencyOf?: string[];
  /** Why a removed artifact is gone: `no longer deployed by cert-manager v1.17.0`, `chart x no longer in the manifest`, `no longer in the manifest`. */
  reason?: string;
  /** What a reviewer must see about an update beside its pins (a chart whose provenance another key signs now). */
  notes?: string[];
}

/** One thing a lock pins, as the lock diff compares it: by `name` (a repository), `key` (a reference) and its `pin`. */
export interface LockPin {
  name: string;
  key: string;
  pin: string;
}

/**
 * A lock's entries of one kind (by the kind's name), as parsed from JSON: a previous lock may come
 * from another ferry version or from outside, so every field is read as optional.
 */
export type LockEntriesOf = (kind: string) => readonly unknown[];

/** How the lock diff (`ferry lock` over an existing lock) reads a kind's entries. */
export interface KindLockDiff {
  /** What the kind's lock entries pin. Linear in the entries. */
  pins(entries: readonly unknown[]): LockPin[];
  /**
   * Say more about the changes (`changes` holds every kind's, sorted): why one of this kind's was
   * removed, what brings it, and the relations to the kind it contributes to (a chart names itself
   * on the images it deploys). Linear in the entries and changes. A removed change no hook explains
   * is `no longer in the manifest`.
   */
  explain?(changes: LockChange[], before: LockEntriesOf, after: LockEntriesOf): void;
}

/** A manifest or lock list: `field: [schema]`, empty when absent. */
export function listField<F extends string, S extends z.ZodType>(field: F, schema: S) {
  return { [field]: z.array(schema).default([]) } as { [P in F]: z.ZodDefault<z.ZodArray<S>> };
}

export interface KindModule<Spec = unknown, Lock = unknown, Ref extends UpstreamRefBase = UpstreamRefBase, Place extends MirrorPlace = MirrorPlace> {
  name: Ref['kind'];
  /** The manifest (and lock) key of its list. */
  field: string;
  /** One manifest entry. */
  specSchema: z.ZodType<Spec, unknown>;
  /** One lock entry; none for a kind that pins nothing (endpoints): it gets no lock key. */
  lockSchema?: z.ZodType<Lock, unknown>;
  /** Its manifest fields (usually `listField(field, specSchema)`), assembled into the manifest schema in KINDS order. */
  manifestShape: z.ZodRawShape;
  /** Its lock fields, assembled into the lock schema in KINDS order. */
  lockShape: z.ZodRawShape;
  /** Whether `vars` placeholders expand its manifest entries (one entry may become several). */
  expandVars: boolean;
  /** Local files a spec points at whose content changes what gets locked (values files, keys). */
  referencedFiles?(spec: Spec): string[];
  /** How many artifacts resolving these specs shows in progress (default: one per spec). */
  resolveItems?(specs: Spec[]): number;
  /**
   * Upstream hosts a spec reaches, each with the item it carries (the inventory's mirrored hosts):
   * first the host the spec names, then the hosts a fetch from it also reaches (API, auth, CDN),
   * which the inventory groups under the first.
   */
  upstreamHosts?(spec: Spec): Array<{ host: string; item: string }>;
  /** Dedup key of a spec, for specs other kinds contribute. */
  specKey?(spec: Spec): string;
  /** Two contributed specs of one key as one (a chart's image that another chart deploys too); without it the first stays. */
  mergeSpecs?(a: Spec, b: Spec): Spec;
  /** The target section its artifacts need; none for a kind that imports nothing. */
  targetFacet?: TargetFacet;
  resolve(specs: Spec[], ctx: KindContext): Promise<Lock[]>;
  /** Bring the bytes into the store; return the top-level descriptors for the bundle's index.json. */
  fetch(entry: Lock, ctx: KindContext): Promise<OciDescriptor[]>;
  /** Name and size of one entry's fetch, for progress totals known before the first byte. */
  fetchPlan(entry: Lock): FetchPlan;
  /** Push or write one top-level bundle entry to the target, idempotently. */
  importTo(top: OciDescriptor, ctx: ImportContext): Promise<ImportResult[]>;
  /**
   * Import's first pass, for a kind whose content goes to the target registry: push only the
   * entry's blobs (never a manifest or tag), through `ctx.push`, whose reads are hashed on the
   * way; `importTo` pushes the manifests and tags once the whole bundle has verified. Called
   * outside any repository lock. A kind without it is verified first and written by `importTo`.
   */
  importBlobs?(top: OciDescriptor, ctx: ImportContext): Promise<void>;
  /**
   * Check one top-level bundle entry before anything is written: read its small metadata
   * (capped, digest-checked) and validate every name, path, facet and key `importTo` will use.
   * Returns every problem found, each naming the artifact; never writes.
   */
  validateImport?(top: OciDescriptor, source: BlobSource, target: ResolvedTarget): Promise<ImportProblem[]>;
  /**
   * What importing one top-level bundle entry would write into the target's directories, read
   * before anything is written (after `validateImport` passed): one row per file it lacks, as
   * `importTo` decides (a file already there with the bundle's size is not counted). The import
   * command sums the rows per file system and refuses up front when one has no room
   * (src/store/free-space.ts). A registry is not a directory: nothing for it. Never writes.
   */
  importNeeds?(top: OciDescriptor, source: BlobSource, target: ResolvedTarget): Promise<ImportNeed[]>;
  /**
   * Why one top-level bundle entry of this kind is not what the bundle's lock pins (a name or
   * digest in index.json the lock does not list), or undefined when the lock names it. `entries`
   * is the lock's list for this kind as parsed, not yet checked against its schema. Import refuses
   * such an entry before anything is written, and `bundle verify` reports it: what is imported
   * must be what the lock says, since map, rewrite, sbom, report and the signature policy read
   * the lock, not index.json. `source` is the bundle: a kind whose lock pins what the top-level
   * manifest lists (an archive, a file, packages), not the manifest's digest, reads it there
   * (capped, digest-checked; one it cannot read is left to `validateImport`).
   */
  unlockedTop?(top: OciDescriptor, entries: readonly unknown[], source: BlobSource): string | undefined | Promise<string | undefined>;
  /** The upstream things one lock entry stands for. */
  references(entry: Lock): Ref[];
  /** Where those things live on a mirror (through src/mapping); empty places: the target has no facet for it. */
  locations(entry: Lock, mapping: MirrorMapping): Array<KindLocation<Ref, Place>>;
  /**
   * A differential bundle (`bundle create --since`): the blobs of one top-level entry it may leave
   * out, its payload (layers, chart archives, packages, files; never a manifest). Reads manifests only.
   * A kind without it has nothing a differential bundle leaves out.
   */
  differentialPayload?(top: OciDescriptor, read: ReadManifest): Promise<OciDescriptor[]>;
  /**
   * Importing a differential bundle: where on `target` the payload blobs `digests` of `top`, which
   * the bundle left out, must already be (src/kinds/differential.ts). `source` is the bundle, for
   * the entry's metadata (capped, digest-checked).
   */
  heldOnTarget?(top: OciDescriptor, digests: ReadonlySet<string>, source: BlobSource, target: ResolvedTarget): Promise<HeldPlace[]>;
  /** HTTP trees `serve` adds for this kind's bundle entries (outside /v2/). */
  serveRoutes?: ServeRouteProvider;
  /** Specs its resolved entries add to another kind. */
  contributes?: Contribution<Lock, unknown>;
  /** What the lock diff compares of its lock entries; a kind without it pins nothing a diff lists. */
  lockDiff?: KindLockDiff;
  /** How people see its artifacts: summaries, the report, the audit (see KindPresentation). */
  presentation?: KindPresentation<Spec, Lock>;
}

/** One file an import would write into a target directory (KindModule.importNeeds). */
export interface ImportNeed {
  /** The target's key for the directory: `files.dir`, `apt.dir`, `charts.dir`, `directory`. */
  key: string;
  /** That directory, as the resolved target has it. */
  dir: string;
  /** The file's path (one path named by several entries is counted once). */
  file: string;
  /** The bytes written there (an upper bound where the file is made at import, as a compressed index). */
  bytes: number;
  /** The bundle blob it is written from: the command counts the size the bundle holds for it (none when it is left out). */
  digest?: string;
}

/** Any kind, for code that iterates KINDS (entries and specs are checked by the kind's own schema). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyKind = KindModule<any, any, UpstreamRefBase, MirrorPlace>;

// ── Presentation: how a kind shows up in summaries, the report and the audit ──────────────────
// Optional throughout: a kind without it is counted under its field name, has no table in the
// report, and carries nothing the audit matches.

/** One row of the report's table of what a bundle carries. */
export interface ArtifactRow {
  name: string;
  version: string;
  digest: string;
  size?: number;
}

/** A reference the audit found in configuration: its scanner's kind (`image`, `url`, `apt`, `oci`, …) and text. */
export interface AuditedReference {
  kind: string;
  value: string;
  /** An APT source entry: what it asks of the repository. */
  apt?: AptSourceEntry;
}

/** What an APT source entry (a `sources.list` line, a deb822 paragraph) asks for. */
export interface AptSourceEntry {
  /** `deb`, `deb-src` */
  types: string[];
  suites: string[];
  components: string[];
}

/**
 * Whether a kind carries an audited reference: `mirror` is where the mapping puts it (when the
 * target has a place for it), `note` says why; `partial` names what is carried when only part
 * of it is (the repository, not this tag), so the reference still goes out. `asWritten`: the
 * reference is carried, but what reads it fetches it as written (a download URL, an APT source
 * line, a chart repository URL: no runtime mirror redirects them as container runtimes redirect
 * image pulls), so it still goes out until it is rewritten — why, and the command that rewrites it.
 */
export type CarriedMatch = { mirror?: string; note?: string; asWritten?: { why: string; rewrite: string } } | { partial: string };

/** What the audit knows when it asks a kind what it carries. */
export interface AuditCarryContext<Spec, Lock> {
  /** The manifest's entries of this kind, `vars` expanded. */
  specs: Spec[];
  /** The lock's entries of this kind (none without a lock). */
  locked: Lock[];
  /** The audit target's registry mapping (the default mapping without a target). */
  registry: RegistryMapping;
  /** The audit's target, when one was given. */
  target?: MirrorTarget;
}

/** A URL is the repository URL `base` or under it (trailing slashes ignored): what an audit calls carried. */
export function isUnderUrl(url: string, base: string): boolean {
  const strip = (u: string) => trimTrailing(u, '/');
  return strip(url) === strip(base) || strip(url).startsWith(strip(base) + '/');
}

export interface KindPresentation<Spec = unknown, Lock = unknown> {
  /** What summaries count its lock entries as: `3 images`, `2 apt repositories` (`lock`, `bundle create`). */
  countNoun?: string;
  /** The same for exactly one (`1 image`, `1 apt repository`); `countNoun` when absent. */
  countNounOne?: string;
  /** The report's table of what a bundle carries: heading, column headings, one row per lock entry. */
  bundleTable?: { title: string; nameColumn: string; versionColumn: string; row(entry: Lock): ArtifactRow };
  /** What one lock entry needs that nothing carried provides (APT dependencies), for the report. */
  unsatisfied?(entry: Lock): string[];
  /** The audit: a matcher, built once per audit, saying whether this kind carries a reference. */
  auditCarried?(ctx: AuditCarryContext<Spec, Lock>): (ref: AuditedReference) => CarriedMatch | undefined;
  /** Rewrite: the lookups this kind's locked entries answer on this target (src/rewrite/context.ts merges them; each lookup is one kind's). */
  mirrorLookups?(locked: Lock[], target: MirrorTarget, targetFile: string): Partial<MirrorLookups>;
}

/** An image reference as rewrite finds it: already on the mirror, mapped to its mirror place, or not covered (why). */
export type ImageLookup =
  | { status: 'mapped'; upstream: ImageReference; mirror: string; mirrorRef: ImageReference; host: string; pathPrefix: string; digestChanged: boolean }
  | { status: 'mirror' }
  | { status: 'unmapped'; reason: string };

export interface AptRepoLookup {
  url: string | 'mirror';
  resigned: boolean;
  /** Suites the source entry names that the mirror does not carry, in words (`apt-get update` fails on them there). */
  gap?: string;
  /** Components it names that the mirror does not carry, in words (apt skips them with a warning). */
  partial?: string;
}

/**
 * What rewrite asks: "is this upstream thing covered, and where is it on the mirror" — answered
 * by the kinds from their lock entries, always through src/mapping.
 */
export interface MirrorLookups {
  lookupImage(ref: string | ImageReference): ImageLookup;
  /** Mirror URL of a locked file URL, 'mirror' when already a mirror URL, undefined when not locked. */
  lookupFileUrl(url: string): string | 'mirror' | undefined;
  /** Origins (scheme://host) of every locked file: URLs there are expected to be mirrored. */
  fileOrigins: Set<string>;
  /** Mirror URL of a locked APT repository URL ('mirror' when it already is one), and whether import re-signs it. */
  /** `entry`: the source line's suites and components, checked against what the lock carries. */
  lookupAptRepo(url: string, entry?: AptSourceEntry): AptRepoLookup | undefined;
  /** Upstream registries the lock pins images from, sorted. */
  registries: string[];
}
