import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FerryError } from '../errors.js';

/**
 * Registry credentials the way docker, podman, skopeo and helm find them (see `authFiles`), each
 * file with `credHelpers`, `auths` and `credsStore` (docker-credential-* helpers). Every lookup also says
 * where it looked, so an auth failure can name the places; secrets never leave this module
 * except inside the Credential itself.
 */
export interface Credential {
  username?: string;
  password?: string;
  /** OAuth2 refresh token (docker's `identitytoken`), exchanged at the token endpoint. */
  identityToken?: string;
}

export interface CredentialLookup {
  credential?: Credential;
  /** Where the credential came from (a file path or `docker-credential-<x>`), when found. */
  source?: string;
  /** Every place consulted, in order, for error messages. */
  searched: string[];
  /** Problems met on the way (unreadable file, failing helper), secrets-free. */
  warnings: string[];
}

export interface CredentialStoreOptions {
  env?: NodeJS.ProcessEnv;
  homeDir?: string;
  helperTimeoutMs?: number;
}

const DOCKER_HUB_KEYS = ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io', 'https://registry-1.docker.io'];
const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

interface ConfigFile {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** docker's convertToHostname: drop the scheme and any path, lower-case. */
export function normalizeAuthKey(key: string): string {
  let k = key.trim();
  k = k.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = k.indexOf('/');
  if (slash >= 0) k = k.slice(0, slash);
  k = k.toLowerCase();
  return DOCKER_HUB_HOSTS.has(k) ? 'docker.io' : k;
}

function normalizeRegistryHost(host: string): string {
  const h = host.toLowerCase();
  return DOCKER_HUB_HOSTS.has(h) ? 'docker.io' : h;
}

/** The server name a credential helper is asked about (docker uses the v1 URL for Docker Hub). */
function helperServerName(host: string): string {
  return normalizeRegistryHost(host) === 'docker.io' ? 'https://index.docker.io/v1/' : host;
}

/** Decode one `auths` entry; undefined when it carries nothing usable. */
export function decodeAuthEntry(entry: AuthEntry | undefined): Credential | undefined {
  if (!entry || typeof entry !== 'object') return undefined;
  if (entry.identitytoken) {
    let username: string | undefined;
    if (entry.auth) username = Buffer.from(entry.auth, 'base64').toString('utf8').split(':')[0] || undefined;
    return { identityToken: entry.identitytoken, username: username ?? entry.username };
  }
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) return undefined;
    return { username: decoded.slice(0, i), password: decoded.slice(i + 1).replace(/\n$/, '') };
  }
  if (entry.username && entry.password !== undefined) return { username: entry.username, password: entry.password };
  return undefined;
}

/**
 * Find the entry for a host in an `auths` map. Containers' auth.json may also key by
 * `host/namespace/repo`; the most specific key matching the repository wins.
 */
function findAuthEntry(auths: Record<string, AuthEntry> | undefined, host: string, repository?: string): AuthEntry | undefined {
  if (!auths) return undefined;
  const want = normalizeRegistryHost(host);
  if (repository) {
    const parts = repository.split('/');
    for (let n = parts.length; n > 0; n--) {
      const key = `${host}/${parts.slice(0, n).join('/')}`;
      if (auths[key]) return auths[key];
    }
  }
  if (want === 'docker.io') {
    for (const k of DOCKER_HUB_KEYS) if (auths[k]) return auths[k];
  }
  if (auths[host]) return auths[host];
  for (const [k, v] of Object.entries(auths)) {
    if (normalizeAuthKey(k) === want) return v;
  }
  return undefined;
}

function findHelper(helpers: Record<string, string> | undefined, host: string): string | undefined {
  if (!helpers) return undefined;
  const want = normalizeRegistryHost(host);
  if (helpers[host]) return helpers[host];
  for (const [k, v] of Object.entries(helpers)) if (normalizeAuthKey(k) === want) return v;
  return undefined;
}

async function readConfig(file: string, warnings: string[]): Promise<ConfigFile | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') warnings.push(`${file}: cannot read (${code})`);
    return undefined;
  }
  try {
    return JSON.parse(text) as ConfigFile;
  } catch (err) {
    warnings.push(`${file}: not valid JSON (${(err as Error).message.split('\n')[0]})`);
    return undefined;
  }
}

/** How long a credential helper may take to answer (FERRY_CREDENTIAL_HELPER_TIMEOUT_MS overrides). */
const DEFAULT_HELPER_TIMEOUT_MS = 30_000;

/** The most a credential helper may write (stdout and stderr together). */
const MAX_HELPER_OUTPUT = 1024 * 1024;

/** Run `docker-credential-<name> get`; undefined when the helper has nothing for the server. */
async function runCredentialHelper(name: string, server: string, opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Credential | undefined> {
  // The name comes from a config file: a word (`pass`, `ecr-login`), never a path to run.
  if (!/^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(name) || name.length > 100) {
    throw new FerryError('AUTH', `credential helper name ${JSON.stringify(name.slice(0, 100))} (configured for ${server}) is not a helper name; not running it`, {
      hint: 'credHelpers/credsStore in the docker config name a docker-credential-<name> program on PATH, such as "pass" or "ecr-login"; fix or remove the entry.',
    });
  }
  const bin = `docker-credential-${name}`;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_HELPER_TIMEOUT_MS;
  let tooLarge = false;
  let timedOut = false;
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(bin, ['get'], { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    // Killing the helper is not enough: a script's own children (`sleep`, a stuck `gpg`) keep its
    // pipes open, and 'close' would wait for them. Stop reading and answer now.
    const stop = () => {
      child.kill('SIGKILL');
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ code: 128, stdout: '', stderr: '' });
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, timeoutMs);
    // An answer is a few hundred bytes; a helper that writes without end is stopped at the cap.
    const collect = (d: Buffer, into: 'out' | 'err') => {
      if (tooLarge) return;
      if (out.length + err.length + d.length > MAX_HELPER_OUTPUT) {
        tooLarge = true;
        clearTimeout(timer);
        stop();
        return;
      }
      if (into === 'out') out += d;
      else err += d;
    };
    child.stdout.on('data', (d: Buffer) => collect(d, 'out'));
    child.stderr.on('data', (d: Buffer) => collect(d, 'err'));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (c, signal) => {
      clearTimeout(timer);
      resolve({ code: c ?? (signal ? 128 : 1), stdout: out, stderr: err });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(server);
  }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') {
      throw new FerryError('AUTH', `credential helper ${bin} not found on PATH (configured for ${server})`, {
        hint: `Install ${bin}, or remove it from credHelpers/credsStore in the docker config.`,
      });
    }
    throw e;
  });
  if (timedOut) {
    throw new FerryError('AUTH', `credential helper ${bin} did not answer within ${timeoutMs / 1000} s for ${server}; stopped it`, {
      hint: `Run \`echo ${server} | ${bin} get\` to see where it waits (a locked keychain, a prompt); FERRY_CREDENTIAL_HELPER_TIMEOUT_MS sets the wait (default ${DEFAULT_HELPER_TIMEOUT_MS / 1000} s).`,
    });
  }
  if (tooLarge) {
    throw new FerryError('AUTH', `credential helper ${bin} wrote more than ${MAX_HELPER_OUTPUT} bytes for ${server}; stopped it`, {
      hint: `A helper answers one small JSON object; run \`echo ${server} | ${bin} get\` to see what it writes.`,
    });
  }
  if (code !== 0) {
    const msg = (stdout + stderr).trim();
    if (/credentials not found|not found in native keychain|no credentials/i.test(msg)) return undefined;
    throw new FerryError('AUTH', `credential helper ${bin} failed for ${server} (exit ${code})`, {
      hint: `Run \`echo ${server} | ${bin} get\` to see why.`,
    });
  }
  let parsed: { Username?: string; Secret?: string };
  try {
    parsed = JSON.parse(stdout) as { Username?: string; Secret?: string };
  } catch {
    throw new FerryError('AUTH', `credential helper ${bin} answered something that is not JSON for ${server}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || (parsed.Secret !== undefined && typeof parsed.Secret !== 'string') || (parsed.Username !== undefined && typeof parsed.Username !== 'string')) {
    throw new FerryError('AUTH', `credential helper ${bin} answered JSON that is not {"Username": "...", "Secret": "..."} for ${server}`);
  }
  if (!parsed.Secret) return undefined;
  if (parsed.Username === '<token>') return { identityToken: parsed.Secret };
  return { username: parsed.Username ?? '', password: parsed.Secret };
}

export class CredentialStore {
  private readonly env: NodeJS.ProcessEnv;
  private readonly homeDir: string;
  private readonly helperTimeoutMs?: number;
  private readonly cache = new Map<string, Promise<CredentialLookup>>();
  /**
   * Helper answers per `helper|server`: a helper is asked once per registry host in a command,
   * not once per repository (lookups are cached per repository, as `auths` can name one; a helper
   * cannot, and may be slow, rate-limited or ask the user).
   */
  private readonly helperAnswers = new Map<string, Promise<Credential | undefined>>();

  constructor(opts: CredentialStoreOptions = {}) {
    this.env = opts.env ?? process.env;
    this.homeDir = opts.homeDir ?? this.env.HOME ?? os.homedir();
    const fromEnv = Number(this.env.FERRY_CREDENTIAL_HELPER_TIMEOUT_MS);
    this.helperTimeoutMs = opts.helperTimeoutMs ?? (Number.isSafeInteger(fromEnv) && fromEnv > 0 ? fromEnv : undefined);
  }

  /** The docker config file consulted. */
  dockerConfigFile(): string {
    const dir = this.env.DOCKER_CONFIG || path.join(this.homeDir, '.docker');
    return path.join(dir, 'config.json');
  }

  /** Credentials for a registry host (as in references: `docker.io`, `host:port`). Cached per host. */
  lookup(host: string, repository?: string): Promise<CredentialLookup> {
    const key = `${host.toLowerCase()}|${repository ?? ''}`;
    let p = this.cache.get(key);
    if (!p) {
      p = this.doLookup(host.toLowerCase(), repository);
      this.cache.set(key, p);
      p.catch(() => this.cache.delete(key));
    }
    return p;
  }

  /**
   * The files consulted, in order, as containers/image (podman, skopeo, buildah) and helm find
   * them: the containers auth file (`REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`
   * where `podman login` writes), `$XDG_CONFIG_HOME/containers/auth.json` (`~/.config/…`), the
   * docker config, then helm's registry config (`HELM_REGISTRY_CONFIG`, else
   * `$XDG_CONFIG_HOME/helm/registry/config.json`, where `helm registry login` writes). All share
   * docker's format (`auths`, `credHelpers`, `credsStore`); the first that has the host wins.
   */
  authFiles(): Array<{ file: string; label: string }> {
    const env = this.env;
    const configHome = env.XDG_CONFIG_HOME || path.join(this.homeDir, '.config');
    const out: Array<{ file: string; label: string }> = [];
    if (env.REGISTRY_AUTH_FILE) out.push({ file: env.REGISTRY_AUTH_FILE, label: `${env.REGISTRY_AUTH_FILE} (REGISTRY_AUTH_FILE)` });
    else if (env.XDG_RUNTIME_DIR) {
      const f = path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json');
      out.push({ file: f, label: f });
    }
    const containers = path.join(configHome, 'containers', 'auth.json');
    if (!out.some((o) => o.file === containers)) out.push({ file: containers, label: containers });
    const docker = this.dockerConfigFile();
    out.push({ file: docker, label: docker });
    const helm = env.HELM_REGISTRY_CONFIG || path.join(configHome, 'helm', 'registry', 'config.json');
    out.push({ file: helm, label: env.HELM_REGISTRY_CONFIG ? `${helm} (HELM_REGISTRY_CONFIG)` : helm });
    return out;
  }

  private async doLookup(host: string, repository?: string): Promise<CredentialLookup> {
    const searched: string[] = [];
    const warnings: string[] = [];
    for (const { file, label } of this.authFiles()) {
      searched.push(label);
      const cfg = await readConfig(file, warnings);
      const found = await this.fromConfig(cfg, file, host, repository, searched, warnings);
      if (found) return { ...found, searched, warnings };
    }
    return { searched, warnings };
  }

  private async fromConfig(
    cfg: ConfigFile | undefined,
    file: string,
    host: string,
    repository: string | undefined,
    searched: string[],
    warnings: string[],
  ): Promise<{ credential: Credential; source: string } | undefined> {
    if (!cfg) return undefined;
    const server = helperServerName(host);
    const helper = findHelper(cfg.credHelpers, host);
    if (helper) {
      searched.push(`docker-credential-${helper} (credHelpers in ${file})`);
      const c = await this.ask(helper, server, warnings);
      if (c) return { credential: c, source: `docker-credential-${helper}` };
    }
    const entry = decodeAuthEntry(findAuthEntry(cfg.auths, host, repository));
    if (entry) return { credential: entry, source: file };
    if (cfg.credsStore) {
      searched.push(`docker-credential-${cfg.credsStore} (credsStore in ${file})`);
      const c = await this.ask(cfg.credsStore, server, warnings);
      if (c) return { credential: c, source: `docker-credential-${cfg.credsStore}` };
    }
    return undefined;
  }

  /**
   * A helper that is missing or fails is a warning, not an error: a public registry still works
   * anonymously, and an auth failure lists the warning with the places looked in.
   */
  private async ask(helper: string, server: string, warnings: string[]): Promise<Credential | undefined> {
    const key = `${helper}|${server}`;
    let answer = this.helperAnswers.get(key);
    if (!answer) {
      answer = runCredentialHelper(helper, server, { env: this.env, timeoutMs: this.helperTimeoutMs });
      this.helperAnswers.set(key, answer);
      // A helper that failed is asked again next time (it may have been a passing failure).
      answer.catch(() => this.helperAnswers.delete(key));
    }
    try {
      return await answer;
    } catch (err) {
      if (err instanceof FerryError) {
        warnings.push(err.message);
        return undefined;
      }
      throw err;
    }
  }
}

/** "looked in a, b and c" for messages. */
export function describeSearch(lookup: Pick<CredentialLookup, 'searched'>): string {
  const s = lookup.searched;
  if (s.length === 0) return 'no credential sources';
  return s.join(', ');
}
