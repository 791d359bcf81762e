import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { NGINX_BIN, waitForPort } from '../support/chart-repo.js';
import { runFerry, runPrivileged } from '../support/cli.js';
import { freePort } from '../support/registry.js';

/**
 * An ML platform team's job (new-user round 20): carry to an air-gapped GPU cluster the model
 * weights of a gated model from a Hugging Face–style host (`files:`, one entry per file of the
 * model: `config.json`, `tokenizer.json`, the `*.safetensors` shards), next to CUDA / Triton
 * images and a KServe chart. The engineer knew `huggingface-cli download` (HF_TOKEN), skopeo and
 * Zarf and worked from the README. The hub is a real nginx on loopback that wants
 * `Authorization: Bearer <token>` on `/<org>/<model>/resolve/main/<file>` and answers with a 302
 * to a CDN on another origin (another nginx server, which refuses any Authorization with 400, as
 * S3 and HF's CDN do for signed URLs, and logs what it received).
 *
 * What tripped:
 * - There was no way to give a file host a credential: `files:` had no auth, the README said
 *   nothing, and the gated model's files failed `ferry lock` with `access denied (HTTP 401)` and
 *   the hint "Check the credentials for this host" — for a kind that reads none (no netrc, no
 *   HF_TOKEN, no docker config). Now a `files:` entry takes `auth: { bearerTokenEnv: HF_TOKEN }`
 *   (the variable's name only: the token is in neither manifest, lock nor bundle); the token goes
 *   to the file URL's own origin only (HEAD at lock, the download, resumed ranges, a checksum
 *   file on that origin), never to a host a redirect leads to. A 401/403 without `auth:` names
 *   that setting; with it, says the token was refused; a variable that is unset or empty stops
 *   the command naming it, before anything is sent.
 * - `bundle create` of tens of GB of weights onto a disk with less free space wrote until the
 *   disk was full (ENOSPC after hours of download, the partial output filling the disk); the
 *   size of the whole bundle is known before the first byte. Now it is refused at once, naming
 *   the free and the needed bytes (what a resumed partial output already holds counts as
 *   written), with `-o` elsewhere as the way out.
 * - The README did not say what ferry does not carry for such a team: Python packages (a
 *   pip/conda mirror) — now it does, with what to use instead (and that a model is carried file
 *   by file, each listed).
 */
let work: string;
let nginx: ChildProcess;
let hubUrl: string;
let cdnLog: string;
let hubLog: string;
const TOKEN = 'hf_secretTOKEN0123456789';
const files: Record<string, Buffer> = {};

const env = (extra: Record<string, string> = {}) => ({ FERRY_CACHE_DIR: path.join(work, 'cache'), FERRY_RETRY_MIN_MS: '50', FERRY_RETRIES: '1', ...extra });
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function writeManifest(file: string, auth: boolean): Promise<void> {
  const base = `${hubUrl}/acme/llama-guard/resolve/main`;
  await writeFile(
    file,
    stringifyYaml({
      apiVersion: 'ferry/v1alpha1',
      kind: 'Manifest',
      metadata: { name: 'models' },
      files: [
        // config.json: no checksum published (trust on first use, downloaded at lock).
        { name: 'llama-guard-config', url: `${base}/config.json`, ...(auth ? { auth: { bearerTokenEnv: 'HF_TOKEN' } } : {}) },
        // The shards: the sha256 the model page shows for each LFS file.
        ...['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'].map((f, i) => ({
          name: `llama-guard-shard-${i + 1}`,
          url: `${base}/${f}`,
          sha256: sha256(files[f]!),
          ...(auth ? { auth: { bearerTokenEnv: 'HF_TOKEN' } } : {}),
        })),
      ],
    }),
  );
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-newuser20-'));
  const cdnRoot = path.join(work, 'cdn');
  await mkdir(cdnRoot, { recursive: true });
  files['config.json'] = Buffer.from('{"architectures":["LlamaForCausalLM"],"torch_dtype":"bfloat16"}\n');
  // Shards: a sparse head and random bytes (a real one is several GB; the path is the same).
  for (const [i, f] of ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'].entries()) {
    const b = Buffer.alloc((24 + i * 8) * 1024 * 1024);
    for (let o = 0; o < b.length; o += 4096) b.writeUInt32LE((o * 2654435761 + i) >>> 0, o);
    files[f] = b;
  }
  for (const [f, b] of Object.entries(files)) await writeFile(path.join(cdnRoot, f), b);

  const conf = path.join(work, 'nginx');
  await mkdir(conf, { recursive: true });
  const [hubPort, cdnPort] = [await freePort(), await freePort()];
  hubLog = path.join(conf, 'hub.log');
  cdnLog = path.join(conf, 'cdn.log');
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  await writeFile(
    path.join(conf, 'nginx.conf'),
    `${user}worker_processes 1;
pid ${conf}/nginx.pid;
error_log ${conf}/error.log warn;
events { worker_connections 64; }
http {
  client_body_temp_path ${conf}/body;
  proxy_temp_path ${conf}/proxy;
  fastcgi_temp_path ${conf}/fastcgi;
  uwsgi_temp_path ${conf}/uwsgi;
  scgi_temp_path ${conf}/scgi;
  default_type application/octet-stream;
  log_format withauth '$request_method $uri auth=[$http_authorization] status=$status';
  server {
    listen 127.0.0.1:${hubPort};
    access_log ${hubLog} withauth;
    location ~ ^/acme/llama-guard/resolve/main/(?<f>[^/]+)$ {
      if ($http_authorization != "Bearer ${TOKEN}") { return 401 '{"error":"Access to model acme/llama-guard is restricted."}'; }
      return 302 http://127.0.0.1:${cdnPort}/$f?X-Amz-Signature=abc;
    }
  }
  server {
    listen 127.0.0.1:${cdnPort};
    access_log ${cdnLog} withauth;
    root ${cdnRoot};
    location / {
      if ($http_authorization) { return 400 'Only one auth mechanism allowed'; }
      try_files $uri =404;
    }
  }
}
`,
  );
  nginx = spawn(NGINX_BIN, ['-p', conf, '-e', path.join(conf, 'error.log'), '-c', path.join(conf, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  nginx.stderr!.on('data', (d) => (stderr += d));
  await waitForPort(hubPort, nginx, () => stderr);
  await waitForPort(cdnPort, nginx, () => stderr);
  hubUrl = `http://127.0.0.1:${hubPort}`;
}, 60_000);

afterAll(async () => {
  if (nginx && nginx.exitCode === null) {
    const exited = new Promise((r) => nginx.once('exit', r));
    nginx.kill('SIGQUIT');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (nginx.exitCode === null) nginx.kill('SIGKILL');
  }
  await rm(work, { recursive: true, force: true });
});

describe('a gated model from a Hugging Face-style host', () => {
  it('without auth: the 401 names how to give a token for files (not "check the credentials", which files had none of)', async () => {
    const dir = path.join(work, 'noauth');
    await mkdir(dir, { recursive: true });
    await writeManifest(path.join(dir, 'models.yaml'), false);
    const r = await runFerry(['lock', 'models.yaml'], { cwd: dir, env: env({ HF_TOKEN: TOKEN }) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('access denied (HTTP 401)');
    expect(r.stderr).toContain('auth: { bearerTokenEnv:');
    expect(r.stderr).not.toContain('Check the credentials for this host');
  }, 120_000);

  it('auth: names a variable that is not set: stopped, named, nothing sent', async () => {
    const dir = path.join(work, 'unset');
    await mkdir(dir, { recursive: true });
    await writeManifest(path.join(dir, 'models.yaml'), true);
    const before = (await readFile(hubLog, 'utf8').catch(() => '')).length;
    const r = await runFerry(['lock', 'models.yaml'], { cwd: dir, env: env({ HF_TOKEN: '' }) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('auth.bearerTokenEnv names HF_TOKEN, which is not set');
    expect((await readFile(hubLog, 'utf8').catch(() => '')).slice(before)).toBe('');
  }, 120_000);

  it('a token the hub refuses is said to be refused', async () => {
    const dir = path.join(work, 'wrong');
    await mkdir(dir, { recursive: true });
    await writeManifest(path.join(dir, 'models.yaml'), true);
    const r = await runFerry(['lock', 'models.yaml'], { cwd: dir, env: env({ HF_TOKEN: 'hf_expired' }) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('refused the token in HF_TOKEN');
  }, 120_000);

  it('with auth: lock and bundle create carry the model; the token goes to the hub only, never to the CDN, the lock or the bundle', async () => {
    const dir = path.join(work, 'auth');
    await mkdir(dir, { recursive: true });
    await writeManifest(path.join(dir, 'models.yaml'), true);
    const lock = await runFerry(['lock', 'models.yaml'], { cwd: dir, env: env({ HF_TOKEN: TOKEN }) });
    expect(lock.stderr + lock.stdout).not.toContain(TOKEN);
    expect(lock.code, lock.stderr).toBe(0);
    const lockText = await readFile(path.join(dir, 'models.lock.json'), 'utf8');
    expect(lockText).not.toContain(TOKEN);
    expect(lockText).toContain('"bearerTokenEnv": "HF_TOKEN"');
    expect(lockText).toContain(sha256(files['config.json']!));

    const create = await runFerry(['bundle', 'create', 'models.yaml', '-o', 'models.ferry.tar'], { cwd: dir, env: env({ HF_TOKEN: TOKEN }) });
    expect(create.code, create.stderr).toBe(0);
    const verify = await runFerry(['bundle', 'verify', 'models.ferry.tar'], { cwd: dir, env: env() });
    expect(verify.code, verify.stderr).toBe(0);
    // The bundle holds the bytes, not the token (read through, in 16 MiB pieces).
    const fh = await open(path.join(dir, 'models.ferry.tar'), 'r');
    try {
      const buf = Buffer.alloc(16 * 1024 * 1024);
      let carry = '';
      for (let pos = 0; ; ) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (!bytesRead) break;
        const text = carry + buf.subarray(0, bytesRead).toString('latin1');
        expect(text.includes(TOKEN)).toBe(false);
        carry = text.slice(-TOKEN.length);
        pos += bytesRead;
      }
    } finally {
      await fh.close();
    }

    const hub = await readFile(hubLog, 'utf8');
    const cdn = await readFile(cdnLog, 'utf8');
    expect(hub).toContain(`auth=[Bearer ${TOKEN}] status=302`);
    // Every request the CDN saw came without Authorization, and none was refused for one.
    const cdnLines = cdn.trim().split('\n');
    expect(cdnLines.length).toBeGreaterThan(0);
    for (const line of cdnLines) expect(line).toMatch(/auth=\[-\] status=(200|206)$/);
  }, 240_000);

  it('bundle create onto a disk too small for the bundle: refused before a byte is written, naming both figures', async () => {
    const dir = path.join(work, 'space');
    const tiny = path.join(work, 'tiny');
    await mkdir(tiny, { recursive: true });
    await mkdir(dir, { recursive: true });
    await writeManifest(path.join(dir, 'models.yaml'), true);
    // A file system of 16 MiB; the bundle is ~56 MiB.
    const mounted = await runPrivileged('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', tiny]);
    expect(mounted.code, mounted.stderr).toBe(0);
    try {
      const r = await runFerry(['bundle', 'create', 'models.yaml', '-o', path.join(tiny, 'models.ferry.tar')], { cwd: dir, env: env({ HF_TOKEN: TOKEN, FERRY_CACHE_DIR: path.join(work, 'cache-tiny') }) });
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/the bundle \([^)]+ in all\) needs \d+ bytes more \([^)]+\) than the \d+ free \([^)]+\); refused before writing/);
      // -o on another file system is the way out; --split-size is not (its parts are written beside -o and need the same room, and are refused alike: review6).
      expect(r.stderr).toMatch(/hint: .*another file system with -o/);
      expect(r.stderr).not.toContain('--split-size');
      expect((await readdir(tiny)).filter((f) => f.endsWith('.partial'))).toEqual([]);
    } finally {
      await runPrivileged('umount', [tiny]);
    }
  }, 240_000);
});
