import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runCommand } from '../support/cli.js';

/**
 * The README's demo, run as `scripts/demo.sh` runs it (after set-up and the build): real
 * docker-registry upstream and site, a chart repository, a signed download and a signed APT
 * repository made on the spot, then every command. The demo checks its own claims
 * independently of ferry's output; here every claim must be there and met.
 */
let work: string | undefined;
afterAll(async () => {
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

const CLAIMS = [
  /^ok {3}lock pinned 3 images, 1 chart, 1 file \(signed SHA256SUMS\) and 1 APT repository$/m,
  /^ok {3}bundle verify re-hashed every byte of demo\.ferry\.tar and found nothing wrong$/m,
  /^ok {3}a second import sent nothing \(0 bytes\)/m,
  /^ok {3}every image in the site registry has the digest the lock pinned \(3\/3\)$/m,
  /^ok {3}every image ferry serve answers for has the digest the lock pinned \(3\/3\)$/m,
  /^ok {3}ferry serve answers the file, the APT InRelease and both packages at the paths import wrote them \(4\/4; the same bytes\)$/m,
  /^ok {3}chart demo-app 0\.1\.0 \(range 0\.1\.x\) is in the site chart repository, byte for byte the upstream archive/m,
  /^ok {3}demo-tool-1\.0\.tar\.gz on the site matches its SHA256SUMS, whose vendor signature gpgv verifies there$/m,
  /^ok {3}APT mirror: InRelease re-signed with the site key \(gpgv verifies it\), carries demo-base_1\.0_all\.deb \+ demo-hello_1\.0_amd64\.deb with the locked SHA-256, and not demo-extra$/m,
  /^ok {3}the rewritten values name only the site registry, and both images they name are there with the pinned digests$/m,
  /^ok {3}containerd hosts\.toml for 127\.0\.0\.1:\d+ sends pulls to the site registry 127\.0\.0\.1:\d+$/m,
  /^ok {3}audit found the one planted external reference: https:\/\/telemetry\.demo-vendor\.example\/v1\/collect at deploy\/values\.yaml:10, and failed \(exit 5\)$/m,
  /^ok {3}after the mitigation the same reference is declared-mitigated \(check met\), nothing is undeclared, and --fail-on unmitigated passes$/m,
  /^ok {3}inventory: 4 zones, 5 flows; vendor telemetry listed as only-if-enabled with its mitigation$/m,
  /^ok {3}firewall: default-deny nftables rules that nft -c accepts; the disabled telemetry endpoint is not allowed$/m,
  /^ok {3}report\.html written: one self-contained page/m,
];

describe('the demo of the whole job', () => {
  it('runs every step on data it makes itself and proves each claim', async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'ferry-demo-e2e-'));
    const r = await runCommand(process.execPath, [path.join(ROOT, 'scripts/demo/run.mjs'), work], { timeoutMs: 240_000 });
    const out = r.stdout;
    expect(r.code, `${out}\n${r.stderr}`).toBe(0);
    for (const step of ['lock', 'bundle create', 'bundle verify', 'import', 'serve', 'map', 'rewrite values', 'mirror-config containerd', 'audit', 'inventory', 'firewall', 'report']) {
      expect(out, step).toMatch(new RegExp(`^\\$ ferry ${step} `, 'm'));
    }
    const proved = out.slice(out.indexOf('## What this run proved'));
    for (const c of CLAIMS) expect(proved, String(c)).toMatch(c);
    expect(proved).not.toMatch(/^FAIL/m);
    expect(proved).toMatch(new RegExp(`^demo OK: ${CLAIMS.length} of ${CLAIMS.length} claims checked`, 'm'));
    // What it left behind is what a user would look at next.
    expect(await readFile(path.join(work, 'out/report.html'), 'utf8')).toContain('<svg class="zones"');
  }, 240_000);
});
