import path from 'node:path';
import { FerryError } from '../errors.js';
import type { MirrorTarget } from '../manifest/target.js';
import { CredentialStore } from '../oci/credentials.js';
import { RegistryClient } from '../oci/client.js';
import { HttpClient } from './http.js';

export interface NetOptions {
  /** One line per HTTP response (secrets masked by HttpClient); the CLI sets it for --debug. */
  log?: (line: string) => void;
  /** `--ca-file`, repeatable. */
  caFiles?: string[];
  /** `--insecure-registry host`, repeatable: plain HTTP allowed for these hosts. */
  plainHttpHosts?: string[];
}

export interface NetContext {
  http: HttpClient;
  registry: RegistryClient;
  close(): Promise<void>;
}

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/;

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.test(host);
}

/** Network access for upstream work (lock, bundle create): the user's proxies, CAs and credentials. */
export function createNetContext(opts: NetOptions = {}): NetContext {
  const http = new HttpClient({ caFiles: opts.caFiles, log: opts.log });
  const plain = new Set(opts.plainHttpHosts ?? []);
  // Without --insecure-registry the client decides: HTTPS, falling back to HTTP only for a
  // loopback registry that does not speak TLS (as docker does for localhost).
  const registry = new RegistryClient({ http, credentials: new CredentialStore(), plainHttp: plain.size ? (host) => plain.has(host) : undefined });
  return { http, registry, close: () => http.close() };
}

/** Client for a mirror target's registry: its CA, and plain HTTP only where the target says so. */
export function createTargetNetContext(target: MirrorTarget, targetDir: string, opts: NetOptions = {}): NetContext | undefined {
  const reg = target.registry;
  if (!reg) return undefined;
  const url = new URL(reg.url);
  if (url.protocol === 'http:' && !reg.insecure && !isLoopbackHost(url.host)) {
    throw new FerryError('VALIDATION', `registry.url ${reg.url}: plain http:// is allowed only for loopback hosts or with insecure: true`, {
      hint: 'Use https:// (with `ca:` for a private CA), or set `insecure: true` if you accept unencrypted transfers.',
    });
  }
  const caFiles = [...(opts.caFiles ?? []), ...(reg.ca ? [path.resolve(targetDir, reg.ca)] : [])];
  const http = new HttpClient({ caFiles, insecureSkipVerify: url.protocol === 'https:' && reg.insecure, log: opts.log });
  const registry = new RegistryClient({ http, credentials: new CredentialStore(), plainHttp: (host) => host === url.host && url.protocol === 'http:' });
  return { http, registry, close: () => http.close() };
}
