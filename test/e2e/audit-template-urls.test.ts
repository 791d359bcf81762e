import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { writeTree } from '../support/fs-tree.js';
import type { AuditReport } from '../../src/audit/audit.js';

/**
 * A URL whose host is a Helm template action (`https://{{ .Values.apiHost }}/api`) was cut at the
 * action's first blank: the finding read `https://{{`, its host `{{`. Now the URL is the whole
 * written one and its host `unknown`, the note naming the action; a literal default inside the
 * action (`default "api.vendor.io"`) is still found as a host of its own.
 */
let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-tpl-url-'));
  await writeTree(work, {
    'm.yaml': 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: m }\n',
    'chart/templates/cm.yaml': [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata:',
      '  name: x',
      'data:',
      '  API: "https://{{ .Values.apiHost }}/api/v1"',
      '  S3: "https://s3.{{ .Values.region }}.amazonaws.com"',
      '  D: "https://{{ .Values.host | default "api.vendor.io" }}/x"',
      '  PLAIN: "https://updates.vendor.io/check"',
      '',
    ].join('\n'),
  });
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe('a URL whose host is a template action', () => {
  it('is the whole URL as written, its host unknown and said so; literal hosts beside it are still found', async () => {
    const r = await runFerry(['audit', 'chart', '--manifest', 'm.yaml', '--format', 'json'], { cwd: work });
    const f = (JSON.parse(r.stdout) as AuditReport).findings.map((x) => [x.line, x.kind, x.value, x.host]);
    expect(f).toEqual(
      expect.arrayContaining([
        [6, 'url', 'https://{{ .Values.apiHost }}/api/v1', 'unknown'],
        [7, 'url', 'https://s3.{{ .Values.region }}.amazonaws.com', 'unknown'],
        [8, 'url', 'https://{{ .Values.host | default "api.vendor.io" }}/x', 'unknown'],
        [8, 'host', 'api.vendor.io', 'api.vendor.io'],
        [9, 'url', 'https://updates.vendor.io/check', 'updates.vendor.io'],
      ]),
    );
    expect(f.filter((x) => String(x[3]).includes('{{'))).toEqual([]);
    const note = (JSON.parse(r.stdout) as AuditReport).findings.find((x) => x.line === 6)?.note;
    expect(note).toContain('its host is a template action, {{ .Values.apiHost }}, filled in when the template is rendered');
  });
});
