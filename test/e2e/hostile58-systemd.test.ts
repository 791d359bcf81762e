import { rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { auditTreeReport } from '../support/audit-repo.js';
import { runFerry } from '../support/cli.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';
const UNITS = 'hosts/edge-1/etc/systemd/system';

/**
 * hostile58: systemd units a site's tree can shape. `$X` as a whole word is X's value split at
 * blanks: a value of 2 000 words named 2 000 times was 4 million arguments (27 s, 1 GB); an
 * environment file's assignments were kept and applied to every unit naming it (10 files of 5 MB of
 * `A1=1` lines: 68 s, 2 GB). Each bound that falls is a note that fails --fail-on.
 */
describe('hostile58: systemd command lines and environment files are bounded, each bound said as unaudited', () => {
  it('a $VAR word split into more than 4 096 arguments: the rest not read, said as unaudited', async () => {
    const words = Array.from({ length: 5000 }, (_, i) => `w${i}`).join(' ');
    const files = { [`${UNITS}/fan.service`]: `[Service]\nEnvironment="X=${words}"\nExecStart=/opt/app $X $X\n` };
    const { work, report } = await auditTreeReport('ferry-h58-fan-', 'site', files, MANIFEST, NESTED_SITE_TARGET);
    try {
      const note = report.skipped.find((s) => s.reason.includes('more than 4096 arguments'));
      expect(note, JSON.stringify(report.skipped)).toBeDefined();
      expect(note!.unscanned).toBe(true);
      expect(report.wouldFail.unmapped).toBe(true);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('an environment file of more than 100 000 assignments is not kept: its values are unknown, not read as known', async () => {
    const lines = Array.from({ length: 100_001 }, (_, i) => `A${i}=1`);
    lines.push('NTP_HOST=ntp.vendor.example', '');
    const files = {
      [`${UNITS}/big.service`]: '[Service]\nEnvironmentFile=/etc/default/big\nExecStart=/opt/app --server=${NTP_HOST}\n',
      'hosts/edge-1/etc/default/big': lines.join('\n'),
    };
    const { work, report } = await auditTreeReport('ferry-h58-envfile-', 'site', files, MANIFEST, NESTED_SITE_TARGET);
    try {
      const unit = `site/${UNITS}/big.service`;
      // The file's values are not what the command line is known to get.
      expect(report.findings.filter((f) => f.file === unit && f.host === 'ntp.vendor.example')).toEqual([]);
      const unknown = report.findings.find((f) => f.file === unit && f.line === 2);
      expect(unknown?.provenance).toContain('100,000');
      expect(report.wouldFail.unmapped).toBe(true);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('a command line longer than 256 KiB is not read, and --fail-on unmapped fails on it', async () => {
    const files = { [`${UNITS}/long.service`]: `[Service]\nExecStart=/opt/app ${'a '.repeat(140_000)}--upstream=https://up.vendor.example\n` };
    const { work, report } = await auditTreeReport('ferry-h58-long-', 'site', files, MANIFEST, NESTED_SITE_TARGET);
    try {
      const note = report.skipped.find((s) => s.reason.includes('ExecStart= is longer than 256 KiB'));
      expect(note?.unscanned).toBe(true);
      const r = await runFerry(['audit', 'site', '--manifest', 'm.yaml', '--target', 't.yaml', '--fail-on', 'unmapped'], { cwd: work });
      expect(r.code, r.stderr).toBe(5);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
