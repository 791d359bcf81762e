import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadChart } from '../../../../src/kinds/chart/load.js';
import { renderChart } from '../../../../src/kinds/chart/render/index.js';
import { writeChart } from '../helpers.js';
import { run } from './run-template.js';

// Eleventh pass of real charts against the independent Go renderer (prometheus-community's 45
// charts with kube-prometheus-stack, grafana's and grafana-community's, Elastic's helm-charts,
// Mattermost, EMQX). Each expectation is what Go gives (checked with Go 1.19 on this machine).

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-oracle11-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

// Bytes that are not UTF-8: a bzip2 header, 0xff 0xfe, a NUL, a bad two-byte sequence (c3 28), a
// good euro sign, and an encoded surrogate (ed a0 80), which UTF-8 forbids.
const BYTES = Buffer.from([0x42, 0x5a, 0x68, 0xff, 0xfe, 0x00, 0xc3, 0x28, 0xe2, 0x82, 0xac, 0xed, 0xa0, 0x80, 0x0a]);

describe('a file that is not UTF-8 keeps its bytes through .Files.Get', () => {
  // kube-prometheus-stack's crds subchart: `binaryData: {crds.bz2: {{ .Files.Get "files/crds.bz2" |
  // b64enc }}}`. Go strings are bytes; ferry decoded the file as UTF-8, every invalid byte became
  // U+FFFD, and the ConfigMap carried a corrupt archive the CRD upgrade job could not unpack.
  it('b64enc, sha256sum, len, index and substr see the bytes of the file', async () => {
    const dir = await writeChart(path.join(tmp, 'bin'), {
      chart: { name: 'bin', version: '1.0.0' },
      values: 'x: 1\n',
      files: {
        'templates/cm.yaml': [
          'apiVersion: v1',
          'kind: ConfigMap',
          'metadata:',
          '  name: crds-upgrade',
          'binaryData:',
          '  crds.bz2: {{ .Files.Get "files/crds.bz2" | b64enc }}',
          'data:',
          '  sha: {{ .Files.Get "files/crds.bz2" | sha256sum }}',
          '  len: {{ .Files.Get "files/crds.bz2" | len | quote }}',
          '  at3: {{ index (.Files.Get "files/crds.bz2") 3 | quote }}',
          '  cut: {{ substr 3 7 (.Files.Get "files/crds.bz2") | printf "%x" }}',
          '  lines: {{ len (.Files.Lines "files/crds.bz2") | quote }}',
          '',
        ].join('\n'),
      },
    });
    await mkdir(path.join(dir, 'files'), { recursive: true });
    await writeFile(path.join(dir, 'files/crds.bz2'), BYTES);
    const cm = renderChart(await loadChart(dir, { allFiles: true })).documents[0].object as { binaryData: Record<string, string>; data: Record<string, string> };
    expect(cm.binaryData['crds.bz2']).toBe('Qlpo//4AwyjigqztoIAK');
    expect(cm.binaryData['crds.bz2']).toBe(BYTES.toString('base64'));
    expect(cm.data.sha).toBe(createHash('sha256').update(BYTES).digest('hex'));
    expect(cm.data).toMatchObject({ len: '15', at3: '255', cut: 'fffe00c3', lines: '1' });
  });

  it('cutting a string inside a character gives its bytes, as Go does', () => {
    // (sprig's `slice` takes lists only; `substr` cuts a string's bytes)
    expect(run('{{ substr 0 1 . | printf "%x" }}', 'é')).toBe('c3');
    expect(run('{{ substr 0 1 . | b64enc }}', 'é')).toBe('ww==');
    expect(run('{{ substr 0 1 . | len }} {{ len . }}', 'é')).toBe('1 2');
  });

  it('text that is UTF-8 is unchanged', () => {
    expect(run('{{ b64enc . }} {{ sha256sum . }} {{ len . }}', 'é€𝄞')).toBe(
      `${Buffer.from('é€𝄞').toString('base64')} ${createHash('sha256').update('é€𝄞').digest('hex')} ${Buffer.byteLength('é€𝄞')}`,
    );
  });
});
