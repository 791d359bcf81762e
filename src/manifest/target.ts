import path from 'node:path';
import { z } from 'zod';
import { readYamlFile } from './input-file.js';
import { parseOrThrow } from './validate.js';
import { trimBoth } from '../ui/escape.js';
import { checkRegistryHost } from '../oci/reference.js';

/**
 * Why a registry url is not `http(s)://host[:port]`, in the words a user needs: the scheme ferry
 * would take (a bare `host:port` is how docker and skopeo spell it), or the prefix a path belongs in.
 */
export function registryUrlProblem(url: string): string | undefined {
  if (/^https?:\/\/[^/\s]+\/?$/.test(url)) {
    // The host is written into runtime configs and printed commands (`podman login <host>`): the
    // WHATWG URL parser keeps `$(…)`, `"`, `;` and backticks in a host, an image reference does not.
    let host: string;
    try {
      host = new URL(url).host;
    } catch {
      return `url ${JSON.stringify(url)} is not a URL: write http(s)://host[:port]`;
    }
    const why = checkRegistryHost(host);
    return why ? `url ${JSON.stringify(url)}: ${why}; a registry host is a DNS name, an IPv4 or [IPv6] address, with an optional :port` : undefined;
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1];
  if (!scheme) {
    const host = url.split('/')[0];
    const rest = trimBoth(url.slice(host.length), '/');
    return `url ${JSON.stringify(url)} has no scheme: write https://${host}${rest ? ` (and prefix: ${rest})` : ''}, or http://${host} for plain HTTP (loopback, or with insecure: true)`;
  }
  if (!/^https?$/i.test(scheme)) return `url ${JSON.stringify(url)}: a registry url is http(s)://host[:port], not ${scheme}://`;
  const m = /^https?:\/\/([^/\s]+)\/+([^\s]*?)\/*$/i.exec(url);
  if (m && m[2]) return `url ${JSON.stringify(url)} has a path: write url: ${url.slice(0, url.indexOf(m[1]) + m[1].length)} and prefix: ${m[2]}`;
  return `url ${JSON.stringify(url)} must be http(s)://host[:port] with no path (use prefix for a path)`;
}

export const RegistryTargetSchema = z
  .object({
    url: z
      .string()
      .superRefine((url, ctx) => {
        const why = registryUrlProblem(url);
        if (why) ctx.addIssue({ code: 'custom', message: why });
      })
      .describe('The mirror registry: its host (and port), as http:// or https:// (https://mirror.example:5000).'),
    prefix: z
      .string()
      .regex(/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/, 'prefix must be lowercase repository path components separated by /')
      .optional(),
    layout: z.enum(['nested', 'flat']).default('nested').describe('nested: <prefix>/<upstream-host>/<path>; flat: <prefix>/<path>'),
    ca: z.string().optional().describe('PEM file with the CA that signed the registry certificate (relative to the target file).'),
    certDir: z
      .string()
      .optional()
      .describe('certs.d-style directory for this registry (relative to the target file): *.crt extra CAs, <name>.cert + <name>.key a client certificate (mutual TLS).'),
    insecure: z.boolean().default(false).describe('Allow plain http:// to a non-loopback host, or skip TLS verification.'),
    maxPathDepth: z.number().int().positive().optional().describe('Refuse mapped repository paths deeper than this (Harbor: 2 under a project, ECR/GAR limits).'),
    maxPathLength: z.number().int().positive().optional(),
  })
  .strict();

export const DirTargetSchema = z
  .object({ dir: z.string().min(1), baseUrl: z.string().regex(/^https?:\/\/\S+$/, 'baseUrl must be http(s)://') })
  .strict();

export const MirrorTargetSchema = z
  .object({
    apiVersion: z.literal('ferry/v1alpha1'),
    kind: z.literal('MirrorTarget'),
    metadata: z.object({ name: z.string().min(1), description: z.string().optional() }).passthrough(),
    registry: RegistryTargetSchema.optional(),
    directory: z.string().min(1).optional().describe('Write an OCI image layout here (serve it with `ferry serve`).'),
    charts: DirTargetSchema.optional(),
    files: DirTargetSchema.optional(),
    apt: DirTargetSchema.extend({ signingKey: z.string().optional() }).strict().optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (!t.registry && !t.directory && !t.charts && !t.files && !t.apt) {
      ctx.addIssue({ code: 'custom', message: 'a target needs at least one of registry, directory, charts, files, apt' });
    }
  });

export type MirrorTarget = z.infer<typeof MirrorTargetSchema>;
export type RegistryTarget = z.infer<typeof RegistryTargetSchema>;

export interface LoadedTarget {
  target: MirrorTarget;
  file: string;
  dir: string;
}

export async function loadTarget(file: string): Promise<LoadedTarget> {
  const abs = path.resolve(file);
  const target = parseOrThrow(MirrorTargetSchema, await readYamlFile(abs, 'mirror target'), `${abs}`, '`ferry schema target` prints the JSON Schema.');
  return { target, file: abs, dir: path.dirname(abs) };
}
