import { describe, expect, it } from 'vitest';
import { validationOf } from '../support/manifest-validation.js';

/**
 * DESIGN.md: "Secrets never reach logs, errors, lock files or bundles." A manifest URL whose query
 * carries a credential (a GitLab `private_token`, a pre-signed S3 URL's `X-Amz-Signature` and
 * `X-Amz-Security-Token`, an Azure SAS `sig`) was accepted and copied into the lock and the
 * bundle, where it outlives the run (a lock is committed, a bundle is stored on both sides).
 * Refused like a user name or password, naming the parameter (never its value) and each URL by
 * its path; ordinary query parameters are taken.
 */
const base = { apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'a' } };

describe('manifest URLs carry no credential in their query (design2)', () => {
  it('refuses token and signature parameters in files, checksums, APT and chart repository URLs, naming the parameter', () => {
    const manifest = {
      ...base,
      files: [
        {
          name: 'tool',
          url: 'https://bucket.s3.amazonaws.com/tool.tgz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Expires=3600&X-Amz-Security-Token=TOKVALUE&X-Amz-Signature=SIGVALUE',
          checksums: { url: 'https://gitlab.example/api/v4/projects/1/packages/generic/t/1/SHA256SUMS?private_token=glpat-VALUE' },
        },
      ],
      apt: [{ name: 'vendor', url: 'https://acct.blob.core.windows.net/debian?sv=2022-11-02&sig=SASVALUE', suites: ['stable'], components: ['main'], keys: ['vendor.asc'] }],
      charts: [{ name: 'app', repo: 'https://charts.example/stable?token=CHARTVALUE', version: '1.0.0' }],
    };
    const { details = [], error } = validationOf(manifest);
    const at = (path: string) => details.find((d) => d.startsWith(`${path}:`)) ?? '';
    expect(at('files[0].url')).toMatch(/query parameters "X-Amz-Credential", "X-Amz-Security-Token", "X-Amz-Signature" carry a credential/);
    expect(at('files[0].checksums.url')).toMatch(/query parameter "private_token" carries a credential/);
    expect(at('apt[0].url')).toMatch(/query parameter "sig" carries a credential/);
    expect(at('charts[0].repo')).toMatch(/query parameter "token" carries a credential/);
    const text = JSON.stringify(error) + String((error as Error)?.message) + details.join('\n');
    for (const secret of ['TOKVALUE', 'SIGVALUE', 'glpat-VALUE', 'SASVALUE', 'CHARTVALUE']) expect(text).not.toContain(secret);
  });

  it('takes URLs whose query names no credential', () => {
    const manifest = {
      ...base,
      files: [{ name: 'tool', url: 'https://downloads.example/get?product=tool&version=1.2&download=1', checksums: 'https://downloads.example/SHA256SUMS?version=1.2' }],
      charts: [{ name: 'app', repo: 'https://charts.example/stable?channel=stable', version: '1.0.0' }],
    };
    expect(validationOf(manifest).details).toBeUndefined();
  });
});
