import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FERRY, runCommand } from '../support/cli.js';
import { helloVendorProject, startVendorLab, stopVendorLab, type VendorLab } from '../support/apt-vendor.js';

/**
 * ferry changes V8 flags while it runs (young-gc.ts: the young generation's growth, incremental
 * marking), and V8 accepts cached code only under the flags it was made with. Modules loaded when
 * first needed (openpgp, undici, the CycloneDX library) were compiled from source on every run:
 * Node wrote their cache under flags the next run did not have when it loaded them. Now the
 * start-up flags are back while a module loads and at exit (src/net/v8-flags.ts). Checked with Node's
 * own account (NODE_DEBUG_NATIVE=COMPILE_CACHE) on `lock` and `bundle create` of a signed APT
 * repository (nginx, gpg): on the second run every module's cached code is accepted.
 */
let lab: VendorLab;
let dir: string;

beforeAll(async () => {
  lab = await startVendorLab('ferry-e2e-ccflags-');
  dir = path.join(lab.work, 'project');
  await helloVendorProject(lab, dir);
}, 60_000);

afterAll(() => stopVendorLab(lab));

function ferry(args: string[], env: Record<string, string | undefined>) {
  const clean = { NODE_COMPILE_CACHE: undefined, NODE_DISABLE_COMPILE_CACHE: undefined, XDG_CACHE_HOME: undefined, NODE_DEBUG_NATIVE: undefined };
  return runCommand(process.execPath, [FERRY, ...args], { cwd: dir, env: { ...clean, FERRY_CACHE_DIR: path.join(lab.work, 'cache'), ...env }, timeoutMs: 120_000 });
}

/** No lock and no bundle: each run resolves the repository again (verifying its signature). */
async function fresh(): Promise<void> {
  for (const f of await readdir(dir)) if (f.endsWith('.lock.json') || f === 'b.tar') await rm(path.join(dir, f), { force: true });
}

/** `file → accepted|rejected` for every module Node looked up in the cache. */
function verdicts(stderr: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of stderr.matchAll(/V8 code cache for ESM file:\/\/\S*\/([^/\s]+\.mjs) was (accepted|rejected)/g)) out.set(m[1]!, m[2]!);
  return out;
}

describe('compile cache under the flags ferry changes', () => {
  // The default (16 MB) caps the young generation and lets it grow again while the command runs
  // (the flags differ between a module's load and the exit: rejected before, on bundle create);
  // FERRY_YOUNG_MAX_MB=1 caps it at the first look and keeps it so.
  for (const youngMax of ['1', undefined]) {
    it(`lock and bundle create: every module's cached code is accepted on the next run (FERRY_YOUNG_MAX_MB=${youngMax ?? 'default'})`, async () => {
      const cache = path.join(lab.work, `cc-${youngMax ?? 'default'}`);
      const env = { FERRY_COMPILE_CACHE: cache, FERRY_YOUNG_MAX_MB: youngMax };
      for (const args of [['lock', 'manifest.yaml'], ['bundle', 'create', 'manifest.yaml', '-o', 'b.tar']]) {
        await fresh();
        const first = await ferry(args, env);
        expect(first.code, first.stderr).toBe(0);
        await fresh();
        const second = await ferry(args, { ...env, NODE_DEBUG_NATIVE: 'COMPILE_CACHE' });
        expect(second.code, second.stderr).toBe(0);
        const seen = verdicts(second.stderr);
        // The program and the modules this command loads when first needed were looked up.
        expect([...seen.keys()].some((f) => f === 'ferry-main.mjs')).toBe(true);
        expect([...seen.keys()].some((f) => f.startsWith('openpgp-')), [...seen.keys()].join(' ')).toBe(true);
        expect([...seen.keys()].some((f) => f.startsWith('undici-parts-'))).toBe(true);
        if (args[0] === 'bundle') expect([...seen.keys()].some((f) => f.startsWith('sbom-cyclonedx-'))).toBe(true);
        const rejected = [...seen].filter(([, v]) => v === 'rejected').map(([f]) => f);
        expect(rejected, `${args.join(' ')}: ${second.stderr.split('\n').filter((l) => l.includes('compile cache')).join('\n')}`).toEqual([]);
      }
    }, 180_000);
  }
});
