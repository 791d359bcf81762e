import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FERRY, mustRun, runCommand } from '../support/cli.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';

/**
 * `bundle verify` of a split bundle reads each part once: the parts' hashes (against the .parts
 * file) and the hashes of the files inside come from the same sequential read. It used to hash
 * every part, then read the tar through them again: twice the I/O, which on a USB disk is twice
 * the wait. The bytes read are counted by the kernel (`rchar` in /proc/<pid>/io, which includes
 * the children a shell waited for), not timed. A damaged byte that belongs to no file (a tar
 * header) must still be named by its part, and so must a part so damaged that the tar cannot be
 * opened at all.
 */
const MiB = 1024 * 1024;
let work: string;
let server: StaticServer;
let dir: string;
let parts: string[];
let total: number;

/** Run ferry in a shell and return its exit, output and the bytes the shell's children read. */
async function rcharOf(args: string[]): Promise<{ code: number; stderr: string; rchar: number }> {
  const quoted = args.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const r = await runCommand('bash', ['-c', `"$NODE" "$FERRY" ${quoted} >/dev/null 2>"$ERR"; code=$?; grep '^rchar:' /proc/$$/io; exit $code`], {
    cwd: dir,
    env: { NODE: process.execPath, FERRY, ERR: path.join(work, 'err.txt') },
  });
  return { code: r.code, stderr: await readFile(path.join(work, 'err.txt'), 'utf8'), rchar: Number(/rchar: (\d+)/.exec(r.stdout)?.[1]) };
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-split-once-'));
  const srv = path.join(work, 'srv');
  await mkdir(srv);
  // 48 MiB of incompressible bytes: the bundle is then far larger than what Node reads to start.
  await mustRun('sh', ['-c', `head -c ${48 * MiB} /dev/urandom > disk.img && sha256sum disk.img > SHA256SUMS`], { cwd: srv });
  server = await startStaticServer(srv);
  dir = path.join(work, 'p');
  await mkdir(dir);
  await writeFile(
    path.join(dir, 'manifest.yaml'),
    ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: disk }', 'files:', '  - name: disk', `    url: ${server.url}/disk.img`, '    checksums:', `      url: ${server.url}/SHA256SUMS`, ''].join('\n'),
  );
  await mustRun(process.execPath, [FERRY, 'bundle', 'create', 'manifest.yaml', '-o', 'disk.ferry.tar', '--split-size', '12m', '-q'], { cwd: dir, env: { FERRY_CACHE_DIR: path.join(work, 'cache') } });
  parts = (await readdir(dir)).filter((f) => /^disk\.ferry\.tar\.\d{3}$/.test(f)).sort();
  total = 0;
  for (const p of parts) total += (await stat(path.join(dir, p))).size;
}, 300_000);

afterAll(async () => {
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Overwrite one byte of a part, returning a function that puts it back. */
async function flip(part: string, at: number): Promise<() => Promise<void>> {
  const fh = await open(path.join(dir, part), 'r+');
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, at);
  await fh.write(Buffer.from([b[0] ^ 0xff]), 0, 1, at);
  await fh.close();
  return async () => {
    const h = await open(path.join(dir, part), 'r+');
    await h.write(b, 0, 1, at);
    await h.close();
  };
}

describe('bundle verify of a split bundle', () => {
  it('reads each part once: about the parts’ size, not twice it', async () => {
    expect(parts.length).toBeGreaterThanOrEqual(4);
    const r = await rcharOf(['bundle', 'verify', parts[0], '-q']);
    expect(r.code, r.stderr).toBe(0);
    // Node's start (the program, its compile cache) reads a few MiB; a second pass would read
    // the whole 48 MiB again.
    expect(r.rchar).toBeGreaterThan(total);
    expect(r.rchar).toBeLessThan(total + 16 * MiB);
  });

  it('a damaged tar header (a byte in no file) is still named by its part', async () => {
    // The tar's first header: byte 100 is its mode field, in no file's content or checksum list.
    const restore = await flip(parts[0], 100);
    try {
      const r = await rcharOf(['bundle', 'verify', parts[0]]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`part 001 of ${parts.length}: sha256 mismatch`);
    } finally {
      await restore();
    }
  });

  it('a byte flipped inside the carried file names both its part and the file', async () => {
    const restore = await flip(parts[2], 4096);
    try {
      const r = await rcharOf(['bundle', 'verify', parts[0]]);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(`part 003 of ${parts.length}: sha256 mismatch`);
      expect(r.stderr).toMatch(/digest mismatch/);
    } finally {
      await restore();
    }
  });

  it('a part damaged so that the tar cannot be opened is still named (its parts are then hashed on their own)', async () => {
    const fh = await open(path.join(dir, parts[0]), 'r+');
    const head = Buffer.alloc(1024);
    await fh.read(head, 0, 1024, 0);
    await fh.write(Buffer.alloc(1024, 0x41), 0, 1024, 0);
    await fh.close();
    try {
      const r = await rcharOf(['bundle', 'verify', parts[0]]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`part 001 of ${parts.length}: sha256 mismatch`);
    } finally {
      const h = await open(path.join(dir, parts[0]), 'r+');
      await h.write(head, 0, 1024, 0);
      await h.close();
    }
    expect((await rcharOf(['bundle', 'verify', parts[0], '-q'])).code).toBe(0);
  });
});

describe('import of a split bundle', () => {
  const target = () => writeFile(path.join(dir, 'target.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: MirrorTarget', 'metadata: { name: t }', 'files: { dir: ./mirror, baseUrl: "http://mirror.internal/files" }', ''].join('\n'));

  it('reads each part once too (the files hashed as they are written; the parts not read again)', async () => {
    await target();
    const r = await rcharOf(['import', parts[0], '-t', 'target.yaml', '-q']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.rchar).toBeGreaterThan(total);
    expect(r.rchar).toBeLessThan(total + 16 * MiB);
    await rm(path.join(dir, 'mirror'), { recursive: true, force: true });
  });

  it('a damaged part is still named when the import refuses the bundle', async () => {
    await target();
    const restore = await flip(parts[1], 4096);
    try {
      const r = await rcharOf(['import', parts[0], '-t', 'target.yaml']);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(`part 002 of ${parts.length}: sha256 mismatch`);
    } finally {
      await restore();
      await rm(path.join(dir, 'mirror'), { recursive: true, force: true });
    }
  });
});
