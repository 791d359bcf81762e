import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, expect } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { validateManifest } from '../../src/kinds/schema.js';
import { mustRunFerry, runFerry } from './cli.js';

/**
 * What the `ferry convert` tests (newuser43…46) check a converted manifest and its output with:
 * the loader and the JSON Schema `ferry schema manifest` prints (through Ajv), the bytes a
 * terminal would act on, and an alias bomb for the bounded reader.
 */

/** Control characters and bidi overrides: what no output of ferry may hold raw. */
// eslint-disable-next-line no-control-regex
export const ACTIVE_TERMINAL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/** Anchors a…i, each a list of ten of the one before: `*i` expands to 10^9 nodes of `leaf`. */
export function aliasBombLevels(leaf = 'x'): string[] {
  const levels = [`a: &a [${Array(10).fill(JSON.stringify(leaf)).join(',')}]`];
  for (let i = 1; i < 9; i++) levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
  return levels;
}

/** Write `files` (relative path → text) under `dir`; returns `dir`. */
export async function writeTree(dir: string, files: Record<string, string>): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const [f, body] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, f)), { recursive: true });
    await writeFile(path.join(dir, f), body);
  }
  return dir;
}

export interface ManifestChecker {
  /** The data checked against the JSON Schema ferry prints (throws with Ajv's errors). */
  schemaCheck: (data: unknown) => boolean;
  /** The manifest file written, checked as ferry loads it and against the JSON Schema. */
  accepted: (file: string) => Promise<Record<string, unknown>>;
}

export async function manifestChecker(): Promise<ManifestChecker> {
  const schema = JSON.parse((await mustRunFerry(['schema', 'manifest'])).stdout);
  const validate = new Ajv2020({ strict: false, allErrors: true }).compile(schema);
  const schemaCheck = (data: unknown) => {
    if (!validate(data)) throw new Error(JSON.stringify(validate.errors, null, 2));
    return true;
  };
  return {
    schemaCheck,
    accepted: async (file) => {
      const data = parseYaml(await readFile(file, 'utf8'));
      validateManifest(data, file);
      expect(schemaCheck(data)).toBe(true);
      return data;
    },
  };
}

/**
 * A convert test file's workspace: a temp directory made before its tests (removed after) and
 * the manifest checker; `dirWith(name, files)` writes a tree under it.
 */
export function convertWorkspace(prefix: string): { dirWith: (name: string, files: Record<string, string>) => Promise<string>; check: () => ManifestChecker } {
  let work: string | undefined;
  let checker: ManifestChecker | undefined;
  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), prefix));
    checker = await manifestChecker();
  });
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });
  return {
    dirWith: (name, files) => writeTree(path.join(work!, name), files),
    check: () => checker!,
  };
}

/** One item of `ferry convert --json`'s notCarried or changed. */
export interface ConvertItem { place: string; file: string; line?: number; item: string; why: string; todo: string }
export interface ConvertJson { manifest: Record<string, unknown>; notCarried: ConvertItem[]; changed: ConvertItem[] }

/** `ferry convert … --json` run in `dir`: it succeeds, prints no active terminal bytes, and its manifest passes the JSON Schema. */
export function convertJsonWith(check: () => ManifestChecker): (dir: string, args: string[]) => Promise<ConvertJson> {
  return async (dir, args) => {
    const r = await runFerry(['convert', ...args, '--json'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(ACTIVE_TERMINAL);
    const res = JSON.parse(r.stdout) as ConvertJson;
    expect(check().schemaCheck(res.manifest)).toBe(true);
    return res;
  };
}
