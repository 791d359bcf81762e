import { constants as fsc } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { FerryError, unreadableFile } from '../errors.js';

/**
 * Per-registry TLS settings the way containers/image (podman, skopeo, buildah) and docker find
 * them: a directory per `host[:port]` holding `*.crt` (extra CAs for that host only) and
 * `<name>.cert` + `<name>.key` (a client certificate and its key).
 *
 * Which directory: the first that exists of
 *   1. the one the command names for this host (a mirror target's `registry.certDir`),
 *   2. `--cert-dir <dir>` (the files directly in it, for every host the command connects to,
 *      as skopeo's --cert-dir),
 *   3. `$HOME/.config/containers/certs.d/<host[:port]>`,
 *   4. `/etc/containers/certs.d/<host[:port]>`,
 *   5. `/etc/docker/certs.d/<host[:port]>`.
 * Only that one is read: directories are not merged (as containers/image). Its CAs are added to
 * the trust ferry has anyway (system store, SSL_CERT_FILE, NODE_EXTRA_CA_CERTS, --ca-file, the
 * target's `ca`). For the default HTTPS port, `<host>` is looked for before `<host>:443`.
 */
export const CERTS_D_ROOTS = (env: NodeJS.ProcessEnv = process.env): string[] => [
  path.join(env.HOME || os.homedir(), '.config/containers/certs.d'),
  '/etc/containers/certs.d',
  '/etc/docker/certs.d',
];

/** A PEM file in a certs.d directory is a few KiB; a bigger one is not a certificate. */
const MAX_PEM_BYTES = 1024 * 1024;
/** A certs.d directory with more entries than this is not one. */
const MAX_ENTRIES = 1000;

export interface CertsDSettings {
  /** `--cert-dir`: a directory holding the files directly, used for every host. */
  certDir?: string;
  /** Per `host[:port]` directories (a mirror target's `certDir`), before anything else. */
  hostCertDirs?: Record<string, string>;
  /** The certs.d roots searched by `host[:port]`; default CERTS_D_ROOTS(). */
  roots?: string[];
}

export interface HostTls {
  /** `host[:port]` as looked up. */
  host: string;
  /** The directories looked at, in order (for messages). */
  searched: string[];
  /** The directory used, if one exists. */
  dir?: string;
  /** PEM CA certificates from `*.crt`. */
  cas: string[];
  /** Client certificate pairs (`.cert` + `.key`). */
  clients: { certFile: string; keyFile: string; cert: string; key: string }[];
}

/** The names a host's certs.d directory may have: `host:port`, or for port 443 `host` then `host:443`. */
export function certsDNames(hostname: string, port: string | number | undefined): string[] {
  const h = hostname.includes(':') && !hostname.startsWith('[') ? `[${hostname}]` : hostname;
  const p = String(port ?? '');
  if (!p || p === '443') return [h, `${h}:443`];
  return [`${h}:${p}`];
}

/** The directories to look at for a host, in order (safe names only: a host never leaves its root). */
export function certsDCandidates(hostname: string, port: string | number | undefined, settings: CertsDSettings = {}): string[] {
  const names = certsDNames(hostname, port);
  const out: string[] = [];
  for (const n of names) if (settings.hostCertDirs?.[n]) out.push(settings.hostCertDirs[n]);
  if (settings.certDir) out.push(settings.certDir);
  for (const root of settings.roots ?? CERTS_D_ROOTS()) {
    // A host's directory is one path segment named by the host: a name that could be more
    // (`..`, a separator) is no host's directory. (net/ sits below store/'s path helpers.)
    for (const n of names) if (HOST_DIR.test(n)) out.push(path.join(root, n));
  }
  return out;
}

/** `host`, `host:port`, `[v6]:port`: a letter, digit or `[` first, then those, `.`, `-`, `_`, `:`, `]`; never a separator. */
const HOST_DIR = /^[A-Za-z0-9[][A-Za-z0-9._:[\]-]*$/;

/**
 * A PEM file of at most MAX_PEM_BYTES: opened without blocking (a FIFO is refused, never waited
 * on), links followed (certs.d entries often are links), checked to be a regular file through the
 * descriptor it is read from.
 */
async function readPem(file: string, what: string): Promise<string> {
  let fh;
  try {
    fh = await open(file, fsc.O_RDONLY | fsc.O_NONBLOCK);
  } catch (err) {
    throw unreadableFile(file, what, err);
  }
  try {
    const s = await fh.stat();
    const problem = !s.isFile() ? `${s.isFIFO() ? 'a FIFO' : s.isDirectory() ? 'a directory' : 'not a regular file'}, not read` : s.size > MAX_PEM_BYTES ? `larger than ${MAX_PEM_BYTES} bytes (${s.size} bytes)` : undefined;
    if (problem) {
      throw new FerryError('USAGE', `${file}: cannot read ${what}: ${problem}`, {
        hint: `A certs.d directory holds PEM files: *.crt (CAs), <name>.cert + <name>.key (a client certificate).`,
      });
    }
    const buf = Buffer.alloc(s.size);
    const { bytesRead } = await fh.read(buf, 0, s.size, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } catch (err) {
    if (err instanceof FerryError) throw err;
    throw unreadableFile(file, what, err);
  } finally {
    await fh.close();
  }
}

/**
 * `text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)` in one pass (the
 * regex went to the end of the file from each BEGIN that has no END after it).
 */
export function pemCerts(text: string): string[] | null {
  const begin = '-----BEGIN CERTIFICATE-----';
  const end = '-----END CERTIFICATE-----';
  const out: string[] = [];
  for (let at = text.indexOf(begin); at >= 0; ) {
    const stop = text.indexOf(end, at + begin.length + 1);
    if (stop < 0) break;
    out.push(text.slice(at, stop + end.length));
    at = text.indexOf(begin, stop + end.length);
  }
  return out.length ? out : null;
}

/**
 * Read the TLS settings for `hostname:port`: the first existing candidate directory's CAs and
 * client certificates, or none. Every problem names the file; a `.cert` without its `.key` (or
 * the reverse) names both paths, as containers/image does.
 */
export async function loadHostTls(hostname: string, port: string | number | undefined, settings: CertsDSettings = {}): Promise<HostTls> {
  const searched = certsDCandidates(hostname, port, settings);
  const host = certsDNames(hostname, port)[0];
  const out: HostTls = { host, searched, cas: [], clients: [] };
  for (const dir of searched) {
    let s;
    try {
      s = await stat(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Missing, or not ours to read (as containers/image: skipped).
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES' || code === 'EPERM') continue;
      throw unreadableFile(dir, 'certs.d directory', err);
    }
    if (!s.isDirectory()) {
      throw new FerryError('USAGE', `${dir}: not a directory (a certs.d entry for ${host} must be a directory of PEM files)`, {
        hint: 'Put ca.crt, client.cert and client.key inside a directory of that name.',
      });
    }
    out.dir = dir;
    break;
  }
  if (!out.dir) return out;
  const dir = out.dir;
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (err) {
    throw unreadableFile(dir, 'certs.d directory', err);
  }
  if (names.length > MAX_ENTRIES) throw new FerryError('USAGE', `${dir}: more than ${MAX_ENTRIES} entries; not a certs.d directory`);
  const has = new Set(names);
  for (const name of names) {
    const file = path.join(dir, name);
    if (name.endsWith('.crt')) {
      const pem = await readPem(file, 'CA certificate');
      const certs = pemCerts(pem);
      if (!certs) throw new FerryError('USAGE', `${file}: no PEM certificate found`, { hint: 'A .crt file in a certs.d directory holds -----BEGIN CERTIFICATE----- blocks (CAs for this host).' });
      out.cas.push(...certs);
    } else if (name.endsWith('.cert')) {
      const keyFile = path.join(dir, `${name.slice(0, -'.cert'.length)}.key`);
      if (!has.has(path.basename(keyFile))) {
        throw new FerryError('USAGE', `${file}: client certificate without its key ${keyFile}`, {
          hint: 'A client certificate <name>.cert needs its private key as <name>.key beside it. CA certificates use the extension .crt.',
        });
      }
      const cert = await readPem(file, 'client certificate');
      const key = await readPem(keyFile, 'client certificate key');
      if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(key)) {
        throw new FerryError('USAGE', `${keyFile}: the key of client certificate ${file} is encrypted`, { hint: 'Store the key unencrypted (openssl pkey -in enc.key -out client.key), readable only by this user.' });
      }
      try {
        tls.createSecureContext({ cert, key });
      } catch (err) {
        throw new FerryError('USAGE', `client certificate ${file} with key ${keyFile}: ${(err as Error).message}`, {
          hint: 'The .cert file must hold the PEM certificate and the .key file its matching PEM private key.',
          cause: err,
        });
      }
      out.clients.push({ certFile: file, keyFile, cert, key });
    } else if (name.endsWith('.key')) {
      const certFile = path.join(dir, `${name.slice(0, -'.key'.length)}.cert`);
      if (!has.has(path.basename(certFile))) {
        throw new FerryError('USAGE', `${file}: client key without its certificate ${certFile}`, {
          hint: 'A client key <name>.key needs its certificate as <name>.cert beside it.',
        });
      }
    }
  }
  return out;
}

/** The hint for a server that wants a client certificate: where ferry looked, and what it found. */
export function clientCertHint(t: HostTls | undefined): string {
  if (!t) return 'Put the client certificate and key in a certs.d directory for this host (client.cert + client.key), or pass --cert-dir <dir>.';
  if (t.clients.length) {
    return `ferry offered ${t.clients.map((c) => c.certFile).join(', ')}; check that the registry trusts the CA that signed it and that it has not expired.`;
  }
  const where = t.dir ? `${t.dir} has no <name>.cert + <name>.key pair` : t.searched.length ? `searched ${t.searched.join(', ')}` : 'no directory searched';
  return `Put the client certificate and key as client.cert + client.key in a certs.d directory for ${t.host} (${where}), or pass --cert-dir <dir>.`;
}
