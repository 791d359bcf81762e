import path from 'node:path';
import { FerryError } from '../errors.js';
import type { NetOptions } from '../net/context.js';
import { HttpClient } from '../net/http.js';
import { isLoopbackHost } from '../net/loopback.js';
import { RegistryClient } from './client.js';
import { CredentialStore } from './credentials.js';

/**
 * The network a command works through: one HttpClient and one RegistryClient on it, built from
 * the user's options (and, for a mirror target, from the target's registry settings).
 */
export type { NetOptions } from '../net/context.js';

export interface NetContext {
  http: HttpClient;
  registry: RegistryClient;
  close(): Promise<void>;
}

/** The registry part of a mirror target, as far as building a client needs it. */
export interface TargetRegistrySettings {
  url: string;
  /** CA file, relative to the target file's directory. */
  ca?: string;
  /** certs.d-style directory for this registry's host (CAs, client certificate), relative to the target file's directory. */
  certDir?: string;
  insecure?: boolean;
}

/** Network access for upstream work (lock, bundle create): the user's proxies, CAs and credentials. */
export function createNetContext(opts: NetOptions = {}): NetContext {
  const http = new HttpClient({ caFiles: opts.caFiles, certsD: { certDir: opts.certDir }, log: opts.log });
  const plain = new Set(opts.plainHttpHosts ?? []);
  // Without --insecure-registry the client decides: HTTPS, falling back to HTTP only for a
  // loopback registry that does not speak TLS (as docker does for localhost).
  const registry = new RegistryClient({ http, credentials: new CredentialStore(), plainHttp: plain.size ? (host) => plain.has(host) : undefined, onRetry: opts.onRetry });
  return { http, registry, close: () => http.close() };
}

/** Client for a mirror target's registry: its CA, and plain HTTP only where the target says so. */
export function createTargetNetContext(target: { registry?: TargetRegistrySettings }, targetDir: string, opts: NetOptions = {}): NetContext | undefined {
  const reg = target.registry;
  if (!reg) return undefined;
  const url = new URL(reg.url);
  if (url.protocol === 'http:' && !reg.insecure && !isLoopbackHost(url.host)) {
    throw new FerryError('VALIDATION', `registry.url ${reg.url}: plain http:// is allowed only for loopback hosts or with insecure: true`, {
      hint: 'Use https:// (with `ca:` for a private CA), or set `insecure: true` if you accept unencrypted transfers.',
    });
  }
  const caFiles = [...(opts.caFiles ?? []), ...(reg.ca ? [path.resolve(targetDir, reg.ca)] : [])];
  // The target's certDir is for its own host only; --cert-dir and the certs.d roots still apply to any other.
  const certsD = { certDir: opts.certDir, ...(reg.certDir ? { hostCertDirs: { [url.host]: path.resolve(targetDir, reg.certDir) } } : {}) };
  const http = new HttpClient({ caFiles, certsD, insecureSkipVerify: url.protocol === 'https:' && reg.insecure, log: opts.log });
  const registry = new RegistryClient({ http, credentials: new CredentialStore(), plainHttp: (host) => host === url.host && url.protocol === 'http:', onRetry: opts.onRetry });
  return { http, registry, close: () => http.close() };
}
