import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConnectionModel } from '../../src/audit/model.js';
import { buildRuleset } from '../../src/audit/firewall/ruleset.js';
import { emitFirewall } from '../../src/audit/firewall/emit.js';
import { validateManifest } from '../../src/kinds/schema.js';
import { runCommand, runPrivileged } from '../support/cli.js';

/**
 * Hostile pass 17: values that passed the firewall validation of pass 16 and still broke the
 * files the tools load.
 *
 * What tripped:
 * - a zone listing a CIDR twice, or one inside another (10.0.0.0/8 and 10.0.0.0/16,
 *   ::ffff:10.0.0.1/104 and ::ffff:10.0.0.1): `nft -c` refused the whole ruleset ("conflicting
 *   intervals specified");
 * - a valid 253-character host name: its set id became a squid ACL name squid refuses
 *   ("Bungled … acl dst_…", over 64 characters) and an nft set name nft refuses;
 * - hosts `a.example` and `a-example` (and zones `a.b`, `a-b`) got one set id, so the second's
 *   rule used the first's addresses.
 * Now covered CIDRs are left out, a long id is cut with a hash of the name, and ids are unique.
 */
const loaded = (raw: unknown) => ({ manifest: validateManifest(raw, 'inline'), file: 'inline.yaml', dir: '.', digest: 'sha256:x' });
const conn = (name: string, from: string, to: string, extra: Record<string, unknown> = {}) => ({ name, from, to, direction: 'outbound', scope: 'external', protocol: 'HTTPS', ports: [443], purpose: name, ...extra });
const model = (zones: unknown[], connections: unknown[]) => buildConnectionModel(loaded({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'm' }, zones, connections }));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-h17-fw-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Every format written and checked by its own tool; the exit codes, by format. */
async function loads(m: ReturnType<typeof model>, name: string): Promise<Record<string, number>> {
  const rs = await buildRuleset(m, { now: () => new Date(0) });
  const codes: Record<string, number> = {};
  for (const format of ['nftables', 'iptables', 'squid']) {
    const text = (await emitFirewall(rs, format)).text;
    const f = path.join(dir, `${name}.${format}`);
    await writeFile(f, format === 'squid' ? `http_port 3128\n${text}\n` : text);
    const r =
      format === 'nftables'
        ? await runPrivileged('/usr/sbin/nft', ['-c', '-f', f])
        : format === 'iptables'
          ? await runPrivileged('/usr/sbin/iptables-restore', ['--test', f])
          : await runCommand('/usr/sbin/squid', ['-k', 'parse', '-f', f]);
    codes[format] = r.code ?? -1;
  }
  return codes;
}

const ok = { nftables: 0, iptables: 0, squid: 0 };

describe('values that pass validation load in nft, iptables-restore and squid', () => {
  it('a zone with a CIDR twice, or one inside another, in both families', async () => {
    const m = model(
      [
        { name: 'a', cidrs: ['10.0.0.0/8', '10.0.0.0/8', '10.0.0.0/16', '10.0.0.1/8', 'fd00::/8', 'fd00::5', '::ffff:10.0.0.1/104', '::ffff:10.0.0.1'] },
        { name: 'b', cidrs: ['10.1.0.0/16'] },
      ],
      [conn('c1', 'a', 'b', { direction: 'internal', scope: 'cluster' })],
    );
    const rs = await buildRuleset(m, { now: () => new Date(0) });
    expect(rs.sets.find((s) => s.id === 'zone_a')!.cidrs).toEqual(['10.0.0.0/8', 'fd00::/8', '::ffff:10.0.0.1/104']);
    expect(await loads(m, 'overlap')).toEqual(ok);
  });

  it('a 253-character host name', async () => {
    const long = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
    expect(long.length).toBe(253);
    const m = model([{ name: 'a', cidrs: ['10.0.0.0/8'] }, { name: 'b', cidrs: ['10.1.0.0/16'] }], [conn('c1', 'a', 'b', { hosts: [long, 'REGISTRY.EXAMPLE.COM', 'registry.example.com.', 'xn--bcher-kva.example', '_svc.example'] })]);
    expect(await loads(m, 'long')).toEqual(ok);
  });

  it('hosts and zones whose names fold to one id keep sets of their own', async () => {
    const m = model(
      [
        { name: 'a.b', cidrs: ['10.0.0.0/8'] },
        { name: 'a-b', cidrs: ['10.9.0.0/16'] },
        { name: 'c', cidrs: ['10.1.0.0/16'] },
      ],
      [conn('c1', 'a.b', 'c', { hosts: ['a.example'] }), conn('c2', 'a-b', 'c', { hosts: ['a-example'] })],
    );
    const rs = await buildRuleset(m, { now: () => new Date(0) });
    const ids = rs.sets.map((s) => s.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(rs.sets.filter((s) => s.kind === 'zone' && s.id.startsWith('zone_a_b')).map((s) => s.cidrs)).toEqual([['10.0.0.0/8'], ['10.9.0.0/16']]);
    expect(rs.sets.filter((s) => s.kind === 'host').map((s) => s.hostname).sort()).toEqual(['a-example', 'a.example']);
    expect(await loads(m, 'fold')).toEqual(ok);
  });
});
