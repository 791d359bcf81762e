import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { HttpClient } from '../../net/http.js';
import { redactUrl } from '../../net/http.js';
import { FerryError } from '../../errors.js';
import { authorizationFromEnv, basicAuthorization, manifestAuthSource, readCredentialsFile, repoHttp, sameOrigin, type HttpAuth, type RepoCredential } from '../repo-auth.js';

/**
 * apt's login file (apt_auth.conf(5)): `/etc/apt/auth.conf`, then `/etc/apt/auth.conf.d/*.conf`
 * (sorted), netrc-like tokens `machine [protocol://]host[:port][/path] login X password Y`.
 * As apt: the first entry that matches wins; an entry without a protocol matches https only (a
 * plain-http repository needs `machine http://…`, which is the user's explicit ask for clear text);
 * no port matches every port; a path matches a URL whose path starts with it.
 * FERRY_APT_AUTH_CONF_DIR replaces /etc/apt (its auth.conf and auth.conf.d/) — for tests and for
 * a machine whose apt configuration lives elsewhere.
 */
export interface AuthConfEntry {
  file: string;
  protocol?: string;
  host: string;
  port?: string;
  path: string;
  login?: string;
  password?: string;
}

/** Bounds on what is read: an auth.conf is a few lines. Entries and bytes count over all the files. */
export const MAX_AUTH_FILE_BYTES = 1024 * 1024;
export const MAX_AUTH_FILES = 1000;
export const MAX_AUTH_TOTAL_BYTES = 16 * 1024 * 1024;
const MAX_ENTRIES = 100_000;

export function aptAuthConfDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.FERRY_APT_AUTH_CONF_DIR || '/etc/apt';
}

/** The entries of one file's text, in order (unknown tokens ignored, as apt). */
export function parseAuthConf(text: string, file: string): AuthConfEntry[] {
  const tokens = text.split(/[ \t\r\n]+/).filter(Boolean);
  const out: AuthConfEntry[] = [];
  let cur: AuthConfEntry | undefined;
  for (let i = 0; i < tokens.length && out.length < MAX_ENTRIES; i++) {
    const t = tokens[i];
    const next = tokens[i + 1];
    if (t === 'machine' && next !== undefined) {
      i++;
      const m = /^(?:([a-z+]+):\/\/)?([^/:[\]]+|\[[^\]]+\])(?::(\d+))?(\/.*)?$/i.exec(next);
      cur = m ? { file, protocol: m[1]?.toLowerCase(), host: m[2].toLowerCase(), port: m[3], path: m[4] ?? '' } : undefined;
      if (cur) out.push(cur);
    } else if ((t === 'login' || t === 'password') && next !== undefined) {
      i++;
      if (cur) cur[t] = next;
    }
  }
  return out;
}

/** Does `entry` apply to `url` (apt's rules above)? */
export function authConfMatches(entry: AuthConfEntry, url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  const scheme = u.protocol.slice(0, -1);
  if (entry.protocol ? entry.protocol !== scheme && entry.protocol !== `tor+${scheme}` : scheme !== 'https') return false;
  if (entry.host !== u.hostname.toLowerCase()) return false;
  if (entry.port !== undefined && entry.port !== (u.port || (scheme === 'https' ? '443' : '80'))) return false;
  return !entry.path || decodeURIComponent(u.pathname).startsWith(entry.path);
}

/**
 * Every entry of auth.conf and auth.conf.d/*.conf, in apt's order; files that are missing or not
 * ours to read are skipped (as apt). A FIFO, a device, a file over MAX_AUTH_FILE_BYTES, more than
 * MAX_AUTH_FILES files or MAX_AUTH_TOTAL_BYTES in all are refused, naming the place: skipping
 * them would say "no machine for it" of files never read.
 */
export async function readAptAuthConf(dir = aptAuthConfDir()): Promise<AuthConfEntry[]> {
  const files = [path.join(dir, 'auth.conf')];
  const confDir = path.join(dir, 'auth.conf.d');
  let names: string[] = [];
  try {
    names = (await readdir(confDir)).filter((n) => n.endsWith('.conf'));
  } catch {
    // no auth.conf.d
  }
  if (names.length > MAX_AUTH_FILES) {
    throw new FerryError('USAGE', `${confDir}: holds ${names.length} .conf files; ferry reads at most ${MAX_AUTH_FILES} (apt's login files are a few)`, { hint: 'Check the directory; FERRY_APT_AUTH_CONF_DIR names another one to read instead of /etc/apt.' });
  }
  files.push(...names.sort().map((n) => path.join(confDir, n)));
  const out: AuthConfEntry[] = [];
  let total = 0;
  for (const file of files) {
    const text = await readCredentialsFile(file, MAX_AUTH_FILE_BYTES, 'an apt login file (auth.conf)');
    if (text === undefined) continue;
    total += text.length;
    if (total > MAX_AUTH_TOTAL_BYTES) {
      throw new FerryError('USAGE', `${confDir}: auth.conf and auth.conf.d/*.conf hold more than the ${MAX_AUTH_TOTAL_BYTES} bytes ferry reads in all (at ${file})`, { hint: "Check the directory: apt's login files are a few lines each." });
    }
    for (const e of parseAuthConf(text, file)) {
      if (out.length >= MAX_ENTRIES) return out;
      out.push(e);
    }
  }
  return out;
}

/**
 * The HttpClient an APT repository's requests go through: the manifest's `auth:` (sent to the
 * repository's origin), else the first auth.conf entry matching each request's URL.
 */
export async function aptRepoHttp(http: HttpClient, repoUrl: string, auth: HttpAuth | undefined, label: string): Promise<HttpClient> {
  const repoLabel = `${label} (${redactUrl(repoUrl)})`;
  if (auth) {
    const found: RepoCredential = { authorization: authorizationFromEnv(auth, repoLabel), source: manifestAuthSource(auth), plainHttpAllowed: auth.allowPlainHttp === true };
    return repoHttp(http, repoLabel, (url) => (sameOrigin(url, repoUrl) ? found : undefined), '');
  }
  const dir = aptAuthConfDir();
  const entries = (await readAptAuthConf(dir)).filter((e) => e.login !== undefined && e.password !== undefined);
  const tried = `no auth: on the apt entry, no machine for it in ${path.join(dir, 'auth.conf')} or ${path.join(dir, 'auth.conf.d')}/*.conf`;
  if (!entries.length) return repoHttp(http, repoLabel, undefined, tried);
  // Per request URL, the first entry that matches it (a pool on another path may have its own).
  return repoHttp(
    http,
    repoLabel,
    (url) => {
      const e = entries.find((x) => authConfMatches(x, url));
      if (!e) return undefined;
      const machine = `${e.protocol ? `${e.protocol}://` : ''}${e.host}${e.port ? `:${e.port}` : ''}${e.path}`;
      // A machine written with http:// is apt's explicit ask for clear text.
      return { authorization: basicAuthorization(e.login!, e.password!), source: `${e.file} (machine ${machine})`, plainHttpAllowed: e.protocol === 'http' };
    },
    tried,
  );
}
