import { hash } from 'node:crypto';
import { z } from 'zod';
import { FerryError } from '../../errors.js';
import { yamlTokensOver } from '../../manifest/input-file.js';
import { parseHostileYaml } from '../../manifest/yaml-input.js';
import { redactUrl } from '../../net/http.js';
import { isClearSigned, MAX_SIGNATURE_BYTES, minimalPublicKey, OVERSIZED_KEY_HINT, oversizedKey, publicKeysFromArmored, verifyClearSigned, type PublicKeys } from '../../net/pgp.js';
import type { BlobSource } from '../../store/source.js';

/**
 * Helm chart provenance (`helm package --sign`, `helm pull --verify --keyring`): a clear-signed
 * message beside the archive (`<archive>.prov`; in an OCI chart, the layer of media type
 * application/vnd.cncf.helm.chart.provenance.v1.prov) whose signed text is the chart's Chart.yaml,
 * a `...` line, and a YAML document `files: {<archive name>: "sha256:<hex>"}`. Verified as Helm's
 * pkg/provenance does (a good signature by a key of the keyring, then the archive's sha256 under
 * its file name), with the keys judged as APT's signatures are (net/pgp.ts: not expired or revoked,
 * no weak digest, no bad signature by a given key), and the signed Chart.yaml's name and version
 * held to the archive's own.
 */

/** A public key recorded in the lock, armored: a signing key with its subkeys is a few KB. */
export const MAX_RECORDED_KEY_CHARS = 64 * 1024;

/** What the lock records of a verified provenance, so the air-gapped side can verify it again. */
export const ChartProvenanceSchema = z
  .object({
    signer: z.string().regex(/^[0-9A-F]{40}([0-9A-F]{24})?$/).describe('Fingerprint of the key that signed the provenance (the primary key, as `gpg --fingerprint` shows it).'),
    file: z.string().min(1).max(255).describe('The archive name the provenance lists (`files:`), whose sha256 is the archive\'s.'),
    key: z
      .string()
      .max(MAX_RECORDED_KEY_CHARS)
      .describe('The signer\'s public key (armored, without third-party certifications), from the manifest\'s keys:: `import`, `serve` and `bundle verify` verify the provenance with it again, offline; the bundle signature covers it as it covers the lock.'),
  })
  .strict();
export type ChartProvenance = z.infer<typeof ChartProvenanceSchema>;

/** The chart a provenance is checked for: what its archive is and where it came from. */
export interface ProvenanceSubject {
  /** `chart <name> <version> (<repo>)`: how every refusal names it. */
  label: string;
  name: string;
  version: string;
  /** sha256 of the archive, `sha256:<hex>`. */
  archiveDigest: string;
  /** The name the provenance's `files:` lists the archive under (Helm: the downloaded file's name). */
  file: string;
}

/** The archive name Helm verifies an archive under: the URL's last path segment (HTTP), `<name>-<version>.tgz` (OCI). */
export function provenanceFileName(name: string, version: string, url?: string): string {
  if (url) {
    try {
      const last = new URL(url).pathname.split('/').pop();
      if (last) return decodeURIComponent(last);
    } catch {
      // not a URL ferry fetched: Helm's own name for it
    }
  }
  return `${name}-${version}.tgz`;
}

/** The two YAML documents of a provenance's signed text (Helm splits at the first `\n...\n`). */
function signedBody(text: string, s: ProvenanceSubject): { meta: Record<string, unknown>; files: Map<string, unknown> } {
  const refuse = (why: string) =>
    new FerryError('VERIFY', `${s.label}: its provenance is signed but ${why}`, { hint: 'The signed text is not the Chart.yaml and `files:` document `helm package --sign` writes; ask the chart\'s maintainer. Nothing was locked or carried.' });
  const normalized = text.replace(/\r\n/g, '\n');
  if (yamlTokensOver(normalized, MAX_PROVENANCE_TOKENS)) throw refuse(`its text holds more than ${MAX_PROVENANCE_TOKENS} YAML tokens (keys, list items, lines); ferry reads no more (\`helm package --sign\` writes a Chart.yaml and one \`files:\` entry, a few hundred)`);
  const at = normalized.indexOf('\n...\n');
  if (at < 0) throw refuse('its text has no `...` line between the Chart.yaml and the `files:` document');
  // The failsafe schema: every scalar a string, as Go reads them into string fields (`version: 1.10` stays 1.10).
  const read = (doc: string, what: string): Record<string, unknown> => {
    let v: unknown;
    try {
      v = readFailsafe(doc);
    } catch (err) {
      throw refuse(`its ${what} is not valid YAML (${String((err as Error).message).split('\n')[0].slice(0, 200)})`);
    }
    if (v === null || v === undefined) return {};
    if (typeof v !== 'object' || Array.isArray(v)) throw refuse(`its ${what} is not a YAML map`);
    return v as Record<string, unknown>;
  };
  const meta = read(normalized.slice(0, at), 'Chart.yaml');
  const rest = normalized.slice(at + 5);
  const next = rest.indexOf('\n...\n');
  const sums = read(next < 0 ? rest : rest.slice(0, next), '`files:` document');
  const files = sums.files;
  if (files === undefined || files === null || typeof files !== 'object' || Array.isArray(files)) throw refuse('it lists no `files:` map');
  return { meta, files: new Map(Object.entries(files)) };
}

/**
 * Structural YAML tokens a provenance's signed text may hold: Helm's is a Chart.yaml and one
 * `files:` entry, a few hundred. The yaml library takes ~50 µs a token, so a signed 1 MiB text of
 * 80 000 names was 4 s even read in linear time, 10 000 names 0.3 s.
 */
export const MAX_PROVENANCE_TOKENS = 32_768;

/**
 * One YAML document with the failsafe schema (every scalar a string, as Go reads them into string
 * fields), the alias limit of the YAML library, and a key written twice in a map refused (found
 * in linear time). Helm's pkg/provenance reads the signed text with sigs.k8s.io/yaml's Unmarshal,
 * where the later key wins; `helm package --sign` never writes a key twice, so a signed text that
 * names the archive twice is refused rather than one of its two sums believed.
 */
function readFailsafe(text: string): unknown {
  return parseHostileYaml(text, { schema: 'failsafe', duplicates: 'refuse', prettyErrors: false, maxAliasCount: 100 });
}

/**
 * Verify a chart's provenance: the signature by one of `keys`, then the signed Chart.yaml's
 * name and version against the chart's, then the archive's sha256 under its file name. Returns
 * the signer's fingerprint; anything else is refused, naming the chart and what to do.
 */
export async function verifyChartProvenance(prov: Buffer, keys: PublicKeys, s: ProvenanceSubject): Promise<string> {
  if (prov.length > MAX_SIGNATURE_BYTES) {
    throw new FerryError('VERIFY', `${s.label}: its provenance file is ${prov.length} bytes; ferry reads at most ${MAX_SIGNATURE_BYTES} (a .prov is a few KB)`, { hint: 'The provenance was crafted or is something else; ask the chart\'s maintainer.' });
  }
  if (!isClearSigned(prov)) {
    throw new FerryError('VERIFY', `${s.label}: its provenance file is not a clear-signed OpenPGP message (what \`helm package --sign\` writes)`, { hint: 'The repository serves something else under the .prov name; ask the chart\'s maintainer. Nothing was locked or carried.' });
  }
  const { text, signer } = await verifyClearSigned(prov, keys, `${s.label} provenance`);
  const { meta, files } = signedBody(text, s);
  if (meta.name !== s.name || meta.version !== s.version) {
    const said = `${String(meta.name ?? 'no name').slice(0, 100)} ${String(meta.version ?? 'no version').slice(0, 100)}`;
    throw new FerryError('VERIFY', `${s.label}: its provenance is signed for chart ${JSON.stringify(said)}, the archive's Chart.yaml is ${s.name} ${s.version}`, {
      hint: 'A provenance of another chart or version was served beside this archive; nothing was locked or carried. Ask the chart\'s maintainer.',
    });
  }
  const sum = files.get(s.file);
  if (sum === undefined) {
    const listed = [...files.keys()].slice(0, 4).map((k) => JSON.stringify(k.slice(0, 100)));
    throw new FerryError('VERIFY', `${s.label}: its provenance lists no sha256 for ${JSON.stringify(s.file)} (it lists ${listed.join(', ') || 'no file'})`, {
      hint: 'Helm verifies the archive under the name it downloads it as; the provenance was made for another file. Ask the chart\'s maintainer.',
    });
  }
  if (sum !== s.archiveDigest) {
    throw new FerryError('VERIFY', `${s.label}: the archive's sha256 is ${s.archiveDigest}, its signed provenance says ${JSON.stringify(String(sum).slice(0, 100))} for ${s.file}`, {
      hint: 'The archive was altered after it was signed, or the provenance belongs to another build: nothing was locked or carried. Report it to the chart\'s maintainer.',
    });
  }
  return signer;
}

/** A chart brought from where it is published, whose provenance (if any was found) is to be verified. */
export interface FetchedChartSubject extends Omit<ProvenanceSubject, 'file'> {
  /** The archive's URL (HTTP: the provenance lists it under its last segment); none for an OCI chart. */
  url?: string;
  /** Where the provenance was looked for, for the refusal when there is none. */
  where: string;
  /** What requires the provenance and what to do without one (default: the chart entry's keys: at `lock`). */
  requiredBy?: ProvenanceRequirement;
}

/** What requires a chart's provenance (`keys:`, `--keyring`), and the way out when the chart has none. */
export interface ProvenanceRequirement {
  what: string;
  otherwise: string;
}

const ENTRY_KEYS: ProvenanceRequirement = { what: 'keys:', otherwise: 'drop keys: from the chart entry to carry it unverified. Nothing was locked.' };

/**
 * The one check of a fetched chart's provenance against the keys a user gave (`keys:` on a chart
 * entry or its dependencies at `lock`, `--keyring` on `charts images` / `rewrite chart`): required
 * (none found is refused), verified by verifyChartProvenance under the name Helm verifies the archive
 * as. Returns the signer and that name.
 */
export async function verifyFetchedProvenance(prov: Buffer | undefined, keys: PublicKeys, s: FetchedChartSubject): Promise<{ signer: string; file: string }> {
  if (!prov) throw missingProvenance(s.label, s.where, s.requiredBy);
  const file = provenanceFileName(s.name, s.version, s.url);
  const signer = await verifyChartProvenance(prov, keys, { label: s.label, name: s.name, version: s.version, archiveDigest: s.archiveDigest, file });
  return { signer, file };
}

/** What `lock` records of a provenance verified with `keys` by `signer`. */
export async function recordProvenance(signer: string, keys: PublicKeys, file: string, label = 'chart'): Promise<ChartProvenance> {
  const key = await minimalPublicKey(keys, signer);
  if (key.length > MAX_RECORDED_KEY_CHARS) {
    throw new FerryError('VERIFY', `${label}: the key that signs its provenance (${signer}) is ${key.length} characters armored, more than the ${MAX_RECORDED_KEY_CHARS} the lock records`, { hint: 'A signing key is a few KB; export it alone (`gpg --export --armor --export-options export-minimal <fingerprint>`) into the keys: file.' });
  }
  return { signer, file, key };
}

/**
 * Verify a provenance again with the key the lock recorded (offline: bundle create from a lock,
 * import, serve, bundle verify). The lock entry is hostile too: its record is checked first.
 */
export async function reverifyChartProvenance(recorded: unknown, prov: Buffer, s: Omit<ProvenanceSubject, 'file'>): Promise<void> {
  const parsed = ChartProvenanceSchema.safeParse(recorded);
  if (!parsed.success) throw new FerryError('VERIFY', `${s.label}: the lock's provenance record is malformed (${parsed.error.issues[0]?.path.join('.') || 'provenance'}: ${parsed.error.issues[0]?.message})`, { hint: 'Run `ferry lock` again.' });
  const rec = parsed.data;
  let keys: PublicKeys;
  try {
    keys = await publicKeysFromArmored(rec.key);
  } catch (err) {
    throw new FerryError('VERIFY', `${s.label}: the lock's provenance key is not an OpenPGP public key (${String((err as Error).message).slice(0, 200)})`, { hint: 'Run `ferry lock` again.' });
  }
  // The lock is hostile too: a key whose parameters would cost hours to verify with is refused unread.
  const costly = oversizedKey(keys);
  if (costly) throw new FerryError('VERIFY', `${s.label}: the lock's provenance key is refused: ${costly}`, { hint: `${OVERSIZED_KEY_HINT} Run \`ferry lock\` again with the vendor's key.` });
  const signer = await verifyChartProvenance(prov, keys, { ...s, file: rec.file });
  if (signer !== rec.signer) throw new FerryError('VERIFY', `${s.label}: its provenance is signed by key ${signer}, the lock records ${rec.signer}`, { hint: 'Run `ferry lock` again.' });
}

/** A provenance blob read whole (at most MAX_SIGNATURE_BYTES) and checked to be its digest. */
export async function readProvenanceBlob(source: Pick<BlobSource, 'readBlob'>, desc: { digest: string; size: number }, label: string): Promise<Buffer> {
  if (desc.size > MAX_SIGNATURE_BYTES) {
    throw new FerryError('VERIFY', `${label}: its provenance is ${desc.size} bytes; ferry reads at most ${MAX_SIGNATURE_BYTES} (a .prov is a few KB)`, { hint: 'The provenance was crafted or is something else; ask the chart\'s maintainer.' });
  }
  const bytes = await source.readBlob(desc.digest, MAX_SIGNATURE_BYTES);
  const got = `sha256:${hash('sha256', bytes, 'hex')}`;
  if (got !== desc.digest) throw new FerryError('VERIFY', `${label}: its provenance ${desc.digest} hashes to ${got}`);
  return bytes;
}

/** The refusal when a chart whose entry gives keys: has no provenance. */
export function missingProvenance(label: string, where: string, by: ProvenanceRequirement = ENTRY_KEYS): FerryError {
  return new FerryError('VERIFY', `${label}: ${by.what} requires its provenance, but ${redactUrl(where)} has none`, {
    hint: `The chart is not signed there (\`helm pull --verify\` refuses it too): ask its maintainer to publish the .prov (\`helm package --sign\`), or ${by.otherwise}`,
  });
}
