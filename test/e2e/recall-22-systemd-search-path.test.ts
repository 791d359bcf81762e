import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { auditTreeReport } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';

const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';
const works: string[] = [];
afterAll(async () => {
  for (const w of works) await rm(w, { recursive: true, force: true });
});

/**
 * A host's units read along systemd's search path (systemd.unit(5)): `systemctl edit app`'s
 * `/etc/systemd/system/app.service.d/override.conf` applies to the packaged
 * `/usr/lib/systemd/system/app.service`; a drop-in of the same name in /etc hides the one in
 * /usr/lib; a unit file in /etc hides the packaged one of the same name. Before, a drop-in applied
 * only to a unit in its own directory, so the override's variables were unknown in the Exec line.
 */
describe('recall22: systemd units along the search path', () => {
  it("an /etc drop-in fills the Exec line of a unit in /usr/lib; an /etc drop-in of the same name hides /usr/lib's", async () => {
    const { work, report } = await auditTreeReport('ferry-recall22-sd-', 'host', {
      'usr/lib/systemd/system/agent.service': ['[Service]', 'ExecStart=/opt/agent/bin/agent --server=${SERVER} --upload ${UPLOAD_URL}', ''].join('\n'),
      'usr/lib/systemd/system/agent.service.d/10-defaults.conf': ['[Service]', 'Environment=SERVER=packaged.vendor.example', ''].join('\n'),
      'etc/systemd/system/agent.service.d/10-defaults.conf': ['[Service]', 'Environment=SERVER=site-mirror.corp.example', ''].join('\n'),
      'etc/systemd/system/agent.service.d/override.conf': ['[Service]', 'Environment=UPLOAD_URL=https://upload.vendor.example/v1', ''].join('\n'),
    }, MANIFEST, NESTED_SITE_TARGET);
    works.push(work);
    const exec = report.findings.filter((f) => f.file === 'host/usr/lib/systemd/system/agent.service' && f.line === 2);
    const hosts = exec.map((f) => f.host).sort();
    expect(hosts).toEqual(['site-mirror.corp.example', 'upload.vendor.example']);
    expect(exec.some((f) => f.host === 'unknown')).toBe(false);
    // The hidden drop-in is still read alone: what it says is not dropped.
    expect(report.findings.some((f) => f.file === 'host/usr/lib/systemd/system/agent.service.d/10-defaults.conf' && f.host === 'packaged.vendor.example')).toBe(true);
  }, 60_000);

  it('a unit file in /etc hides the packaged one: the drop-ins apply to the /etc unit', async () => {
    const { work, report } = await auditTreeReport('ferry-recall22-sd2-', 'host', {
      'lib/systemd/system/web.service': ['[Service]', 'ExecStart=/usr/bin/web --server=${ORIGIN}', ''].join('\n'),
      'etc/systemd/system/web.service': ['[Service]', 'ExecStart=/usr/bin/web --server=${ORIGIN} --site', ''].join('\n'),
      'run/systemd/system/web.service.d/origin.conf': ['[Service]', 'Environment=ORIGIN=origin.vendor.example', ''].join('\n'),
    }, MANIFEST, NESTED_SITE_TARGET);
    works.push(work);
    const etc = report.findings.filter((f) => f.file === 'host/etc/systemd/system/web.service' && f.line === 2);
    expect(etc.map((f) => f.host)).toEqual(['origin.vendor.example']);
  }, 60_000);
});
