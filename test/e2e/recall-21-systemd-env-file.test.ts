import { rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { auditedRepo, auditTreeReport } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';
const UNITS = 'hosts/edge-1/etc/systemd/system';

/**
 * A VM site's systemd units (the service, a drop-in, the EnvironmentFile on the same host) and a
 * Compose service's env_file, read as systemd and Compose read them.
 */
const FILES: Record<string, string> = {
  [`${UNITS}/app.service`]: [
    '[Unit]', // 1
    'Documentation=https://docs.vendor-app.example/manual',
    '[Service]',
    'Environment="HTTPS_PROXY=http://reset-proxy.vendor.example:3128" \\',
    '  LICENSE_SERVER=reset-lic.vendor.example', // 5
    'Environment=',
    'Environment="API_URL=https://api.vendor.example/v1" HOME_URL=https://%H.corp.example/ \\',
    '# a comment inside the continued line is skipped',
    '  UPDATE_ENDPOINT=updates.vendor.example',
    'EnvironmentFile=-/etc/default/app', // 10
    'EnvironmentFile=-/etc/app/site.env',
    'ExecStartPre=/usr/bin/curl -fsS ${API_URL}/health',
    'ExecStart=/opt/app/bin/app --server=${NTP_HOST} --upstream ${UPSTREAM} $ARGS --registry=registry.vendor.example',
    'ExecStartPost=/opt/app/bin/notify --collector=${COLLECTOR_HOST}',
    '',
  ].join('\n'),
  [`${UNITS}/app.service.d/10-upstream.conf`]: ['[Service]', 'Environment=UPSTREAM=https://upstream.vendor.example', ''].join('\n'),
  'hosts/edge-1/etc/default/app': [
    '# defaults', // 1
    'NTP_HOST=ntp.vendor.example',
    'ARGS="--telemetry https://telemetry.vendor.example/collect"',
    'API_URL=https://api-from-file.vendor.example/v2',
    '',
  ].join('\n'),
  // A unit under no etc/systemd/: which host's /etc its EnvironmentFile is on is unknown.
  'deploy/loose.service': ['[Service]', 'EnvironmentFile=/etc/loose/env', 'ExecStart=/usr/bin/agent --endpoint=${AGENT_HOST}', ''].join('\n'),
  'compose/compose.yaml': [
    'services:', // 1
    '  web:',
    '    image: nginx:1.27',
    '    env_file:',
    '      - path: ./web.conf', // 5
    '        required: false',
    '      - ./common.env',
    '    environment:',
    '      HTTPS_PROXY: http://proxy.site.internal:3128',
    '  worker:', // 10
    '    image: busybox:1.36',
    '    env_file: common.env',
    '    environment:',
    '      - HTTPS_PROXY=http://proxy.site.internal:3128',
    '',
  ].join('\n'),
  'compose/web.conf': [
    '# comment', // 1
    'export LICENSE_URL="https://lic.vendor.example/v2" # inline',
    'HTTPS_PROXY=http://proxy.vendor.example:3128',
    "NOTE='multi",
    "line https://ml.vendor.example'", // 5
    'API_ENDPOINT: api.vendor.example',
    'API_ENDPOINT=api2.vendor.example',
    '',
  ].join('\n'),
  'compose/common.env': ['HTTPS_PROXY=http://outside-proxy.vendor.example:8080', 'TELEMETRY_URL=https://telemetry.vendor.example', ''].join('\n'),
};

describe('recall21: systemd units and Compose env_file, read as systemd and Compose read them', () => {
  const repo = auditedRepo('ferry-recall21-', FILES, MANIFEST, NESTED_SITE_TARGET);
  const unit = `repo/${UNITS}/app.service`;

  it('Environment=: quoting and continuation read, an empty Environment= resets, a specifier is unknown; Documentation= is no connection', () => {
    const hosts = repo.findings.map((f) => f.host);
    expect(hosts).not.toContain('reset-proxy.vendor.example');
    expect(hosts).not.toContain('reset-lic.vendor.example');
    expect(hosts).not.toContain('docs.vendor-app.example');
    // API_URL is overridden by the EnvironmentFile: the file's value is what the service gets.
    // Reported at the line the continued Environment= starts on.
    const env = repo.at(unit, 7);
    expect(env.map((f) => f.host).sort()).toEqual(['unknown', 'updates.vendor.example']);
    expect(env.find((f) => f.host === 'unknown')!.note).toContain('specifier');
    expect(env.find((f) => f.host === 'updates.vendor.example')!.note).toContain('Environment= of app.service: UPDATE_ENDPOINT');
  });

  it('EnvironmentFile= on the unit\'s host is read as systemd reads it; one the scan does not hold is unknown, named', () => {
    const file = 'repo/hosts/edge-1/etc/default/app';
    expect(repo.one(file, 2)).toMatchObject({ host: 'ntp.vendor.example' });
    expect(repo.one(file, 2).note).toContain('an environment file systemd reads into app.service');
    expect(repo.one(file, 3)).toMatchObject({ host: 'telemetry.vendor.example' });
    const missing = repo.one(unit, 11);
    expect(missing.host).toBe('unknown');
    expect(missing.note).toContain('repo/hosts/edge-1/etc/app/site.env is not in the scan');
    const loose = repo.at('repo/deploy/loose.service', 2);
    expect(loose.map((f) => f.host)).toEqual(['unknown']);
    expect(loose[0].note).toContain('under no etc/systemd/');
  });

  it('Exec lines: ${VAR} and $VAR filled in from the unit (a drop-in, the files over Environment=); unknown when a file may set it', () => {
    // site.env (not in the scan) is read after /etc/default/app: every variable may come from it.
    expect(repo.one(unit, 12).host).toBe('unknown');
    const exec = repo.at(unit, 13);
    expect(exec.find((f) => f.host === 'registry.vendor.example')).toBeDefined();
    expect(exec.filter((f) => f.host === 'unknown').length).toBeGreaterThanOrEqual(2);
    expect(exec.find((f) => f.host === 'unknown')!.note).toContain('site.env');
  });

  it("Compose env_file: read with Compose's .env syntax (export, quotes over lines, NAME: value, a later assignment wins); environment: wins", () => {
    const web = 'repo/compose/web.conf';
    expect(repo.one(web, 2)).toMatchObject({ host: 'lic.vendor.example' });
    expect(repo.one(web, 4)).toMatchObject({ host: 'ml.vendor.example' });
    expect(repo.one(web, 7)).toMatchObject({ host: 'api2.vendor.example' });
    const hosts = repo.findings.map((f) => f.host);
    expect(hosts).not.toContain('api.vendor.example');
    // Both services naming common.env set HTTPS_PROXY themselves; web sets it over web.conf's.
    expect(hosts).not.toContain('outside-proxy.vendor.example');
    expect(hosts).not.toContain('proxy.vendor.example');
    expect(repo.one('repo/compose/common.env', 2)).toMatchObject({ host: 'telemetry.vendor.example' });
  });
});

describe('recall21: a unit known to its exec lines', () => {
  it('${VAR} from Environment=, a drop-in and an EnvironmentFile; $VAR split into words', async () => {
    const { work, report } = await auditTreeReport('ferry-recall21-exec-', 'repo', {
      [`${UNITS}/app.service`]: [
        '[Service]',
        'Environment=API_URL=https://api.vendor.example/v1',
        'EnvironmentFile=/etc/default/app',
        'ExecStartPre=/usr/bin/curl -fsS ${API_URL}/health',
        'ExecStart=/opt/app/bin/app --server=${NTP_HOST} --upstream ${UPSTREAM} $ARGS',
        '',
      ].join('\n'),
      [`${UNITS}/app.service.d/10-upstream.conf`]: ['[Service]', 'Environment=UPSTREAM=https://upstream.vendor.example', ''].join('\n'),
      'hosts/edge-1/etc/default/app': ['NTP_HOST=ntp.vendor.example', 'ARGS="--telemetry https://telemetry.vendor.example/collect"', ''].join('\n'),
    }, MANIFEST, NESTED_SITE_TARGET);
    try {
      const at = (line: number) => report.findings.filter((f) => f.file === `repo/${UNITS}/app.service` && f.line === line);
      expect(at(4).map((f) => f.value)).toEqual(['https://api.vendor.example/v1/health']);
      expect(at(5).map((f) => f.host).sort()).toEqual(['ntp.vendor.example', 'telemetry.vendor.example', 'upstream.vendor.example']);
      expect(at(5).find((f) => f.host === 'ntp.vendor.example')!.note).toContain('${NTP_HOST} from repo/hosts/edge-1/etc/default/app:1');
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('bounds: 1 MB of continuation lines and 10 000 EnvironmentFile= entries are read to their bounds, each bound a note', async () => {
    const big = ['[Service]', 'Environment=A=1 \\', ...Array.from({ length: 90_000 }, (_, i) => `  V${i}=x \\`), '  LAST=https://last.vendor.example', 'ExecStart=/bin/app --server=${LAST}', ''].join('\n');
    const many = ['[Service]', ...Array.from({ length: 10_000 }, (_, i) => `EnvironmentFile=-/etc/app/e${i}.env`), 'ExecStart=/bin/app', ''].join('\n');
    const { work, report } = await auditTreeReport('ferry-recall21-bounds-', 'repo', { [`${UNITS}/big.service`]: big, [`${UNITS}/many.service`]: many }, MANIFEST, NESTED_SITE_TARGET);
    try {
      expect(big.length).toBeGreaterThan(1_000_000);
      const notes = report.skipped.map((s) => s.reason);
      expect(notes.some((r) => r.includes('Environment= is longer than 256 KiB'))).toBe(true);
      expect(notes.some((r) => r.includes('more than 256 EnvironmentFile= entries in many.service'))).toBe(true);
      const bigExec = report.findings.filter((f) => f.file === `repo/${UNITS}/big.service` && f.line === 90_004);
      expect(bigExec.map((f) => f.host)).toEqual(['unknown']);
      expect(report.findings.filter((f) => f.host === 'last.vendor.example')).toEqual([]);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
