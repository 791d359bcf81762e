// A Debian-shaped repository of N packages for the big-APT benchmark (scripts/bench/apt-big.sh):
// pool/main/<p>/<name>/<name>_1.0_amd64.deb (small distinct files: ferry checks size and SHA-256,
// it does not unpack them), dists/<suite>/main/binary-amd64/Packages(.gz) and dists/<suite>/Release
// with their sizes and SHA-256. The caller signs Release into InRelease.
//   node scripts/bench/apt-repo-gen.mjs <root> <count> [suite]
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

const [root, countText, suite = 'bookworm'] = process.argv.slice(2);
const count = Number(countText);
const sha = (b) => createHash('sha256').update(b).digest('hex');
const stanzas = [];
for (let i = 0; i < count; i++) {
  const name = `bench-pkg-${String(i).padStart(6, '0')}`;
  const dir = path.join('pool', 'main', 'b', name);
  mkdirSync(path.join(root, dir), { recursive: true });
  const file = path.join(dir, `${name}_1.0_amd64.deb`);
  const body = Buffer.concat([Buffer.from(`!<arch>\n${name}\n`), randomBytes(200 + (i % 1800))]);
  writeFileSync(path.join(root, file), body);
  const dep = i > 0 && i % 3 === 0 ? `Depends: bench-pkg-${String(i - 1).padStart(6, '0')}\n` : '';
  stanzas.push(
    `Package: ${name}\nVersion: 1.0\nArchitecture: amd64\nMaintainer: Bench <bench@ferry.test>\nInstalled-Size: 1\n${dep}Filename: ${file}\nSize: ${body.length}\nSHA256: ${sha(body)}\nSection: misc\nPriority: optional\nDescription: benchmark package ${i}\n`,
  );
}
const packages = Buffer.from(stanzas.join('\n'));
const gz = gzipSync(packages);
const idx = path.join('dists', suite, 'main', 'binary-amd64');
mkdirSync(path.join(root, idx), { recursive: true });
writeFileSync(path.join(root, idx, 'Packages'), packages);
writeFileSync(path.join(root, idx, 'Packages.gz'), gz);
const line = (b, rel) => ` ${sha(b)} ${String(b.length).padStart(10)} ${rel}`;
const release = [
  'Origin: bench',
  'Label: bench',
  `Suite: ${suite}`,
  `Codename: ${suite}`,
  'Date: Sat, 05 Dec 2026 00:00:00 UTC',
  'Architectures: amd64',
  'Components: main',
  'SHA256:',
  line(packages, 'main/binary-amd64/Packages'),
  line(gz, 'main/binary-amd64/Packages.gz'),
  '',
].join('\n');
writeFileSync(path.join(root, 'dists', suite, 'Release'), release);
console.log(JSON.stringify({ packages: count, packagesBytes: packages.length, gzBytes: gz.length }));
