import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';
import { validateFirewall } from '../support/firewall-validate.js';

/**
 * `firewall`, `inventory` and `audit` write their output with -o as `report` and `sbom` do: the
 * same text as on stdout, through a temporary name renamed into place, so a command that fails
 * leaves nothing under the final name (newuser64: a shell redirect left an empty rules file).
 */
let work: string;
const repo = process.cwd();
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-output-files-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('-o on firewall, inventory and audit', () => {
  it('firewall -o writes what stdout would carry, and nft -c accepts the file', async () => {
    const out = path.join(work, 'rules', 'site.nft');
    const r = await runFerry(['firewall', path.join(repo, 'manifests/demo.yaml'), '--format', 'nftables', '-o', out], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`wrote ${out}`);
    const text = await readFile(out, 'utf8');
    const printed = await runFerry(['firewall', path.join(repo, 'manifests/demo.yaml'), '--format', 'nftables'], { cwd: work });
    expect(text).toBe(printed.stdout);
    await validateFirewall(work, 'nftables', text, 'output-files');
  }, 60_000);

  it('inventory -o --json writes the JSON stdout would carry', async () => {
    const out = path.join(work, 'inventory.json');
    const r = await runFerry(['inventory', path.join(repo, 'manifests/demo.yaml'), '--json', '-o', out], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const printed = await runFerry(['inventory', path.join(repo, 'manifests/demo.yaml'), '--json'], { cwd: work });
    expect(await readFile(out, 'utf8')).toBe(printed.stdout);
    expect(Object.keys(JSON.parse(await readFile(out, 'utf8'))).length).toBeGreaterThan(0);
  }, 60_000);

  it('audit -o writes the report even when --fail-on fails the run (exit 5): the evidence is kept', async () => {
    const tree = path.join(work, 'tree');
    await mkdir(tree, { recursive: true });
    await writeFile(path.join(tree, 'values.yaml'), 'telemetry:\n  url: https://collector.outside-vendor.example/v1\n');
    const out = path.join(work, 'audit.md');
    const r = await runFerry(['audit', 'tree', '--manifest', path.join(repo, 'manifests/demo.yaml'), '--fail-on', 'unmapped', '-o', out], { cwd: work });
    expect(r.code, r.stderr).toBe(5);
    expect(await readFile(out, 'utf8')).toContain('collector.outside-vendor.example');
  }, 60_000);

  it('a command that fails leaves nothing under the -o name, nor a temporary file beside it', async () => {
    const dir = path.join(work, 'fail');
    for (const args of [
      ['firewall', 'missing.yaml', '--format', 'nftables', '-o', path.join(dir, 'x.nft')],
      ['inventory', 'missing.yaml', '-o', path.join(dir, 'x.md')],
      ['audit', 'nowhere', '--manifest', 'missing.yaml', '-o', path.join(dir, 'x.md')],
    ]) {
      const r = await runFerry(args, { cwd: work });
      expect(r.code, args.join(' ')).not.toBe(0);
    }
    expect(await readdir(dir).catch(() => [])).toEqual([]);
  }, 60_000);
});
