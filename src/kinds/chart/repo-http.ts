import { createInterface } from 'node:readline';
import { Transform, type Readable } from 'node:stream';
import { FerryError } from '../../errors.js';
import { throwForStatus, type HttpClient } from '../../net/http.js';
import { SlowTransferError } from '../../net/low-speed.js';
import { withRetry } from '../../net/retry.js';
import { downloadToStore as downloadVerified } from '../file/download.js';
import type { BlobStore } from '../../store/blob-store.js';
import { trimTrailing } from '../../ui/escape.js';
import { distance } from '../../manifest/validate.js';
import { parseHostileYaml, type HostileYamlOptions } from '../../manifest/yaml-input.js';

/**
 * How a chart repository's index.yaml is read: Helm reads it with sigs.k8s.io/yaml's
 * UnmarshalStrict (pkg/repo loadIndex), which refuses a map key written twice (go-yaml v2 strict:
 * "key already set in map"), so ferry refuses it too rather than pick one of the two.
 */
export const INDEX_YAML: HostileYamlOptions = { duplicates: 'refuse' };

/**
 * HTTP chart repositories: `index.yaml` lists every version of every chart with its archive
 * URLs and digest. Public indexes are large (tens of MB), so the index is streamed line by line
 * and only the wanted chart's section is parsed; an index in another shape falls back to a full
 * parse.
 */
export interface IndexEntry {
  name: string;
  version: string;
  appVersion?: string;
  urls: string[];
  /** sha256 hex of the archive, as the index gives it (may be missing in old indexes). */
  digest?: string;
  apiVersion?: string;
  [key: string]: unknown;
}

export function indexUrlOf(repo: string): string {
  return trimTrailing(repo, '/') + '/index.yaml';
}

/**
 * Absolute archive URL: index urls may be relative to the repository URL. A plain-HTTP archive
 * of a repository read over HTTPS is refused unless the index gives its digest.
 */
export function archiveUrl(repo: string, entry: IndexEntry): string {
  const u = entry.urls?.[0];
  if (!u) throw new FerryError('VALIDATION', `${indexUrlOf(repo)}: ${entry.name} ${entry.version} has no urls`, { hint: 'The repository index is broken; ask its maintainer.' });
  let url: URL | undefined;
  try {
    url = new URL(u, trimTrailing(repo, '/') + '/');
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new FerryError('VALIDATION', `${indexUrlOf(repo)}: ${entry.name} ${entry.version} has the archive URL ${JSON.stringify(u.slice(0, 200))}, which is not an http(s) URL`, { hint: 'The repository index is broken or crafted; ask its maintainer.' });
  }
  if (url.protocol === 'http:' && /^https:/i.test(repo) && !(typeof entry.digest === 'string' && entry.digest)) {
    // Nothing would check these bytes: anyone on the path could serve another chart, locked as the real one.
    throw new FerryError('VERIFY', `${indexUrlOf(repo)}: ${entry.name} ${entry.version} has the archive URL ${JSON.stringify(u.slice(0, 200))}, plain HTTP from a repository read over HTTPS, and no digest; refusing to fetch it in clear text`, {
      hint: 'An index read over HTTPS may point at plain HTTP only for an archive whose digest it gives. Ask the repository maintainer to serve archives over HTTPS (or to add digests).',
    });
  }
  return url.toString();
}

/**
 * The lines of one chart's section in a Helm-style index (`entries:` then `  <name>:` at two
 * spaces). Only an index in another shape (JSON, flow style) is kept whole for a full parse.
 */
export async function sectionFromStream(body: Readable, name: string): Promise<{ section?: string; full?: string; near?: string[] }> {
  const rl = createInterface({ input: boundedIndex(body), crlfDelay: Infinity });
  const quoted = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  let inEntries = false;
  let sawEntries = false;
  /** Indentation of the chart names under `entries:` (2 as Helm writes it; taken from the file). */
  let keyIndent = -1;
  let header: RegExp | undefined;
  let capturing = false;
  const lines: string[] = [];
  const all: string[] = [];
  const near = new NearNames(name);
  let total = 0;
  for await (const line of rl) {
    if (!sawEntries) {
      total += line.length + 1;
      if (total > MAX_FULL_INDEX) {
        rl.close();
        body.destroy();
        throw new FerryError('VALIDATION', `index.yaml: larger than ${MAX_FULL_INDEX} bytes in a shape ferry cannot stream (no top-level "entries:" block)`);
      }
      all.push(line);
    }
    if (!capturing) {
      if (/^entries:\s*$/.test(line)) {
        inEntries = sawEntries = true;
        all.length = 0;
        continue;
      }
      if (/^\S/.test(line)) inEntries = false;
      if (!inEntries || !line.trim() || /^\s*#/.test(line)) continue;
      if (keyIndent < 0) {
        keyIndent = line.length - line.trimStart().length;
        header = new RegExp(`^ {${keyIndent}}["']?${quoted}["']?:\\s*$`);
      }
      if (header!.test(line)) capturing = true;
      else if (line.length <= keyIndent + NEAR_LINE_MAX && line.length - line.trimStart().length === keyIndent) near.offer(/^\s*["']?([^"':]*)["']?:\s*$/.exec(line)?.[1]);
      continue;
    }
    // The section ends at the next chart name or a top-level key.
    const indent = line.length - line.trimStart().length;
    if (line.trim() && !/^\s*#/.test(line) && (indent === 0 || (indent <= keyIndent && !line.trimStart().startsWith('-')))) {
      rl.close();
      body.destroy();
      break;
    }
    lines.push(line);
  }
  if (sawEntries) return { section: lines.join('\n'), ...(capturing ? {} : { near: near.names() }) };
  return { full: all.join('\n') };
}

/** Chart names of an index compared with a missing one, at most: an index is hostile, and the biggest public ones list a few thousand. */
export const NEAR_NAMES_COMPARED = 20_000;
/** Edits (and length difference) within which an index's chart name is offered for a missing one. */
const NEAR_DISTANCE = 2;
/** Near names shown, at most. */
const NEAR_SHOWN = 3;
/** A chart-name line longer than this (past its indentation) is not a name offered. */
const NEAR_LINE_MAX = 160;
/** A wanted name longer than this is not compared (manifest names are short; the distance is quadratic in the length). */
const NEAR_NAME_MAX = 128;

/**
 * The chart names of an index nearest to one it lacks (`cert-manger` → `cert-manager`): only
 * names within NEAR_DISTANCE edits and lengths, compared case-insensitively, the first
 * NEAR_NAMES_COMPARED names of the index at most, the NEAR_SHOWN nearest kept.
 */
export class NearNames {
  private readonly raw: string;
  private readonly wanted: string;
  private compared = 0;
  private readonly found: Array<{ name: string; d: number; exact: number }> = [];
  constructor(wanted: string) {
    this.raw = wanted.length <= NEAR_NAME_MAX ? wanted : '';
    this.wanted = this.raw.toLowerCase();
  }
  offer(candidate: string | undefined): void {
    if (!this.wanted || candidate === undefined || this.compared >= NEAR_NAMES_COMPARED) return;
    this.compared++;
    if (Math.abs(candidate.length - this.wanted.length) > NEAR_DISTANCE) return;
    const d = distance(this.wanted, candidate.toLowerCase());
    if (d > NEAR_DISTANCE || this.found.some((f) => f.name === candidate)) return;
    // Of two as near, the one spelt in the same case first.
    this.found.push({ name: candidate, d, exact: distance(this.raw, candidate) });
    this.found.sort((a, b) => a.d - b.d || a.exact - b.exact || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.found.length = Math.min(this.found.length, NEAR_SHOWN);
  }
  names(): string[] {
    return this.found.map((f) => f.name);
  }
}

const MAX_FULL_INDEX = 256 * 1024 * 1024;
/** The whole index however it is shaped (read through, kept or not), and its longest line: an endless answer ends here. */
const MAX_INDEX_BYTES = 512 * 1024 * 1024;
const MAX_INDEX_LINE = 1024 * 1024;

/** The index body, failing (named) past MAX_INDEX_BYTES or at a line longer than MAX_INDEX_LINE (readline would buffer it whole). */
function boundedIndex(body: Readable): Readable {
  let total = 0;
  let line = 0;
  const out = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      total += chunk.length;
      const nl = chunk.lastIndexOf(0x0a);
      line = nl === -1 ? line + chunk.length : chunk.length - nl - 1;
      if (total > MAX_INDEX_BYTES) return cb(new FerryError('VALIDATION', `index.yaml: larger than ${MAX_INDEX_BYTES} bytes; refusing to read on`, { hint: 'No chart repository index is this large; the server answered something crafted or broken.' }));
      if (line > MAX_INDEX_LINE) return cb(new FerryError('VALIDATION', `index.yaml: a line longer than ${MAX_INDEX_LINE} bytes; refusing to read on`, { hint: 'No chart repository index has lines this long; the server answered something crafted or broken.' }));
      cb(null, chunk);
    },
  });
  body.on('error', (err) => out.destroy(err));
  out.on('error', () => body.destroy());
  return body.pipe(out);
}

/**
 * Every version of `name` in the repository's index (newest order as the index has it); when the
 * index has no such chart, `near` the names it lists that are nearest (a misspelling's fix).
 */
export async function readIndexEntries(http: HttpClient, repo: string, name: string): Promise<IndexEntry[] & { near?: string[] }> {
  const url = indexUrlOf(repo);
  const label = `chart repository ${repo}`;
  const got = await withRetry(`GET ${url}`, async () => {
    const res = await http.request(url);
    if (res.status < 200 || res.status >= 300) await throwForStatus(res, 'GET', `${label} index (${url})`);
    return sectionFromStream(res.body, name);
  }).catch((err) => {
    if (err instanceof FerryError && err.code === 'NETWORK') {
      throw new FerryError('NETWORK', `${label}: unreachable (${err.message})`, {
        cause: err,
        // A server too slow to wait for is there: its hint says which knob loosens the limit.
        hint: err.cause instanceof SlowTransferError ? err.hint : 'Check the repo URL in the manifest, the network and HTTPS_PROXY.',
      });
    }
    throw err;
  });
  let list: unknown;
  let near = got.near;
  try {
    if (got.section !== undefined) list = parseHostileYaml(got.section, INDEX_YAML);
    else if (got.full !== undefined) {
      const doc = (parseHostileYaml(got.full, INDEX_YAML) ?? {}) as { entries?: Record<string, unknown> };
      const entries = doc.entries && typeof doc.entries === 'object' ? doc.entries : {};
      list = Object.hasOwn(entries, name) ? entries[name] : undefined;
      if (list === undefined) {
        const n = new NearNames(name);
        for (const k of Object.keys(entries)) n.offer(k);
        near = n.names();
      }
    }
  } catch (err) {
    throw new FerryError('VALIDATION', `${url}: index.yaml is not valid YAML: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  if (!Array.isArray(list)) return Object.assign([], near?.length ? { near } : {});
  return (list as IndexEntry[])
    .filter((e) => e && e.version !== undefined)
    .map((e) => ({ ...e, name: String(e.name ?? name), version: String(e.version), urls: Array.isArray(e.urls) ? e.urls.map(String) : [] }));
}

export interface DownloadedArchive {
  digest: string;
  size: number;
}

/**
 * Stream an archive into the store, hashing as it flows and resuming a dropped connection with
 * Range (the files kind's downloader); refuse it (nothing kept) when it does not match the
 * digest the index gives. Renamed into `blobs/sha256/` only after it matched.
 */
/**
 * The archive at `url`, which the index of `repo` named: a URL from the repository's answer, so
 * held to the redirect rule (it may not lead to this machine or the metadata address unless the
 * repository is there itself: net/http.ts `namedBy`).
 */
export async function downloadToStore(http: HttpClient, url: string, expectedHex: string | undefined, store: BlobStore, label: string, repo: string): Promise<DownloadedArchive> {
  try {
    const got = await downloadVerified(store, http, url, expectedHex ? { sha256: expectedHex.toLowerCase() } : {}, { label, namedBy: indexUrlOf(repo) });
    return { digest: got.digest, size: got.size };
  } catch (err) {
    if (err instanceof FerryError && err.code === 'VERIFY' && expectedHex) {
      throw new FerryError('VERIFY', `${label} (${url}): digest mismatch: the index says sha256:${expectedHex} (${err.message.replace(/^.*?checksum mismatch: /, '')})`, {
        cause: err,
        hint: 'The repository served a different archive than its index names. Nothing was kept; report it to the repository maintainer.',
      });
    }
    throw err;
  }
}

/** Provenance file next to the archive (`<url>.prov`), when the repository has one. */
export async function fetchProv(http: HttpClient, url: string, repo?: string): Promise<Buffer | undefined> {
  try {
    // Beside an archive the index named, held to the index's redirect rule; beside one the user named, to none.
    return await http.getBytes(`${url}.prov`, { label: 'chart provenance', maxBytes: 1024 * 1024, ...(repo ? { namedBy: indexUrlOf(repo) } : {}) });
  } catch (err) {
    if (err instanceof FerryError && (err.code === 'NOT_FOUND' || err.code === 'AUTH')) return undefined;
    throw err;
  }
}
