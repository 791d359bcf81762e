// A tree of `mb` MB of YAML for the audit benchmark and memory test: values files of long
// lines (little to parse, much text), one image and one URL per file.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
const [dir, mbArg] = process.argv.slice(2);
const mb = Number(mbArg ?? 150);
const line = 'x'.repeat(1000);
const perFile = 512 * 1024;
const body = Array.from({ length: Math.floor(perFile / 1020) }, (_, i) => `k${i}: "${line}"`).join('\n');
for (let i = 0; i * perFile < mb * 1024 * 1024; i++) {
  const d = path.join(dir, `app${Math.floor(i / 50)}`);
  mkdirSync(d, { recursive: true });
  writeFileSync(path.join(d, `values-${i}.yaml`), `image: registry.example.com/app/a${i}:1.0\nhome: https://example.org/a${i}\n${body}\n`);
}
