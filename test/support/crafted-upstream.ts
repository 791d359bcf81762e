import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { runFerry, type RunResult } from './cli.js';

/**
 * A crafted upstream for hostile tests of the connected side: an HTTP server on loopback whose
 * answers the test sets (`upstream.handler = …`), and `ferry lock` of a manifest run against it.
 */
export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface CraftedUpstream {
  /** `127.0.0.1:<port>`. */
  readonly host: string;
  handler: Handler;
  /** `ferry lock` of a manifest holding `body` (after its header), in a directory of its own. */
  lock(body: string): Promise<RunResult & { dir: string; files: string[] }>;
}

/** Starts the server before the file's tests and stops it (and removes its work directory) after. */
export function craftedUpstream(name: string): CraftedUpstream {
  let work = '';
  let server: http.Server | undefined;
  let n = 0;
  const up = {
    host: '',
    handler: ((_req, res) => void res.writeHead(404).end()) as Handler,
    async lock(body: string) {
      const dir = path.join(work, `c${++n}`);
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'manifest.yaml'), `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: h }\n${body}`);
      const r = await runFerry(['lock', 'manifest.yaml'], { cwd: dir, env: { FERRY_CACHE_DIR: path.join(dir, 'cache'), FERRY_RETRIES: '0' }, timeoutMs: 90_000 });
      return { ...r, dir, files: await readdir(dir) };
    },
  };
  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), `ferry-e2e-${name}-`));
    server = http.createServer((req, res) => {
      res.on('error', () => {});
      up.handler(req, res);
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    up.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    if (work) await rm(work, { recursive: true, force: true });
  });
  return up;
}

/** The lock was refused: not 0, not killed, not an unexpected error or a stack; `problem` said; no lock file. */
export function expectRefusedLock(r: RunResult & { files: string[] }, problem: RegExp): void {
  expect(r.code, r.stderr).not.toBe(0);
  expect([1, 137]).not.toContain(r.code);
  expect(r.stderr).toMatch(problem);
  expect(r.stderr).not.toMatch(/unexpected error|failed unexpectedly|Maximum call stack|\n\s+at /);
  expect(r.files.filter((f) => f.endsWith('.lock.json'))).toEqual([]);
}
