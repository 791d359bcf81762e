// Runs the demo with the built CLI, printing each command as a user would type it.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { makeUpstream } from './make-upstream.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ferry = path.join(root, 'dist', 'ferry.mjs');
const work = process.argv[2] ? path.resolve(process.argv[2]) : await mkdtemp(path.join(os.tmpdir(), 'ferry-demo-'));
await mkdir(work, { recursive: true });
const env = { ...process.env, FERRY_CACHE_DIR: path.join(work, 'cache'), NO_COLOR: '1' };

function show(args) {
  const shown = (a) => (a.startsWith(work + path.sep) && work.startsWith(process.cwd() + path.sep) ? path.relative(process.cwd(), a) : a);
  console.log(`\n$ ferry ${args.map(shown).join(' ')}`);
}

function run(args) {
  show(args);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ferry, ...args], { env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ferry ${args[0]} exited ${code}`))));
  });
}

/** Start `ferry serve` and wait for the address it prints. */
function serve(args) {
  show(args);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ferry, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /(https?:\/\/[\d.]+:\d+)/.exec(out);
      if (m) {
        process.stdout.write(out);
        resolve({ url: m[1], stop: () => child.kill('SIGTERM') });
      }
    });
    child.on('close', (code) => reject(new Error(`ferry serve exited ${code}: ${out}`)));
  });
}

console.log(`ferry demo in ${work}`);
const upstreamDir = path.join(work, 'upstream');
await makeUpstream(upstreamDir);
await writeFile(
  path.join(work, 'upstream-target.yaml'),
  'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: demo-upstream }\nregistry: { url: "http://127.0.0.1", layout: flat }\n',
);
console.log('\n# 1. an "upstream registry": a layout made by the demo, served read-only by ferry');
const upstream = await serve(['serve', upstreamDir, '--listen', '127.0.0.1:0', '--target', path.join(work, 'upstream-target.yaml')]);
const servers = [upstream];
try {
  const doc = parseDocument(await readFile(path.join(root, 'manifests', 'demo.yaml'), 'utf8'));
  doc.setIn(['vars', 'upstream'], new URL(upstream.url).host);
  const manifest = path.join(work, 'demo.yaml');
  await writeFile(manifest, doc.toString());
  await copyFile(path.join(root, 'mirror-targets', 'demo-site.yaml'), path.join(work, 'site.yaml'));
  const bundle = path.join(work, 'demo.ferry.tar');
  const target = path.join(work, 'site.yaml');

  console.log('\n# 2. connected side: pin, fetch, verify while streaming, pack');
  await run(['lock', manifest]);
  await run(['bundle', 'create', manifest, '-o', bundle]);
  console.log('\n# 3. air-gapped side: re-verify every byte, import, serve, map');
  await run(['bundle', 'verify', bundle]);
  await run(['import', bundle, '--target', target]);
  await run(['import', bundle, '--target', target]);
  const mirror = await serve(['serve', path.join(work, 'mirror'), '--listen', '127.0.0.1:0', '--target', target]);
  servers.push(mirror);
  await run(['map', bundle, '--target', target]);

  console.log('\n# 4. check: every image on the served mirror has the digest the lock pinned');
  const lock = JSON.parse(await readFile(path.join(work, 'demo.lock.json'), 'utf8'));
  const { execFileSync } = await import('node:child_process');
  const mapped = JSON.parse(execFileSync(process.execPath, [ferry, 'map', bundle, '--target', target, '--json'], { env }).toString());
  let failures = 0;
  for (const img of lock.images) {
    const row = mapped.rows.find((r) => r.upstream === img.ref);
    const [repo, tag] = row.mirror[0].split(/:(?=[^:/]+$)/);
    const res = await fetch(`${mirror.url}/v2/${repo}/manifests/${tag}`, { headers: { accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' } });
    const body = Buffer.from(await res.arrayBuffer());
    const got = 'sha256:' + createHash('sha256').update(body).digest('hex');
    const want = img.storedDigest ?? img.digest;
    const ok = res.ok && got === want;
    if (!ok) failures++;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${img.ref} → ${mirror.url.replace(/^https?:\/\//, '')}/${repo}:${tag}  ${got}${img.storedDigest ? `  (filtered to ${img.platforms.join(',')}; upstream ${img.digest.slice(0, 19)}…)` : ''}`);
  }
  if (failures) throw new Error(`${failures} image(s) did not match`);
  console.log(`\ndemo OK — everything is in ${work}`);
} finally {
  for (const s of servers) s.stop();
}
