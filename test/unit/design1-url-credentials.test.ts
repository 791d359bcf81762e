import { describe, expect, it } from 'vitest';
import { validationOf } from '../support/manifest-validation.js';

/**
 * DESIGN.md: "Secrets never reach logs, errors, lock files or bundles." A manifest URL with a user
 * name or password was accepted, never sent (HTTP requests take credentials from auth: and the
 * docker config, not from URLs) and copied into the lock (`url`, `repo`) and the bundle. Each such
 * URL is refused with its path, all at once, and the message does not repeat the secret.
 */
describe('manifest URLs carry no credentials', () => {
  it('refuses user:password@ in files, checksums, APT and chart repository URLs, each named by its path', () => {
    const manifest = {
      apiVersion: 'ferry/v1alpha1',
      kind: 'Manifest',
      metadata: { name: 'a' },
      files: [{ name: 'tool', url: 'https://me:s3cret@files.example/tool.tgz', checksums: { url: 'https://files.example/SHA256SUMS', signature: 'https://tok@files.example/SHA256SUMS.sig' } }],
      apt: [{ name: 'vendor', url: 'https://me:s3cret@apt.example/debian', suites: ['stable'], components: ['main'], keys: ['vendor.asc'] }],
      charts: [{ name: 'app', repo: 'oci://me:s3cret@registry.example/charts', version: '1.0.0' }],
    };
    const { details = [], error: caught } = validationOf(manifest);
    for (const at of ['files[0].url', 'files[0].checksums.signature', 'apt[0].url', 'charts[0].repo']) expect(details.some((d) => d.startsWith(`${at}:`) && /user name or password/.test(d))).toBe(true);
    expect(JSON.stringify(caught) + String((caught as Error)?.message)).not.toContain('s3cret');
  });

  it('takes the same URLs without credentials', () => {
    const manifest = {
      apiVersion: 'ferry/v1alpha1',
      kind: 'Manifest',
      metadata: { name: 'a' },
      files: [{ name: 'tool', url: 'https://files.example/tool.tgz', checksums: 'https://files.example/SHA256SUMS' }],
      apt: [{ name: 'vendor', url: 'https://apt.example/debian', suites: ['stable'], components: ['main'], keys: ['vendor.asc'] }],
      charts: [{ name: 'app', repo: 'oci://registry.example/charts', version: '1.0.0' }],
    };
    expect(validationOf(manifest).details).toBeUndefined();
  });
});
