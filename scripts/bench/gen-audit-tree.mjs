// A tree of `mb` MB for the audit benchmark and memory test.
//   node gen-audit-tree.mjs DIR [MB]           values files of long lines (little to parse, much
//                                               text), one image and one URL per file
//   node gen-audit-tree.mjs DIR [MB] --nginx   an nginx configuration split over files: nginx.conf
//                                               with maps and upstream groups, `include conf.d/*.conf`
//                                               pulling in sites of ~36 KB each (server blocks whose
//                                               proxy_pass names those groups, one per file the map)
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
const args = process.argv.slice(2);
const nginx = args.includes('--nginx');
const [dir, mbArg] = args.filter((a) => a !== '--nginx');
const mb = Number(mbArg ?? (nginx ? 9 : 150));

if (nginx) {
  const groups = 40;
  const main = ['events {}', 'http {'];
  for (let g = 0; g < groups; g++) main.push(`  upstream backend_${g} {`, `    server app${g}.internal.example:8080;`, `    server app${g}-b.internal.example:8080 backup;`, '  }');
  main.push('  map $host $site_backend {', '    default http://default.internal.example:8080;');
  for (let g = 0; g < 8; g++) main.push(`    site${g}.example.org http://backend_${g};`);
  main.push('  }', '  include conf.d/*.conf;', '}', '');
  mkdirSync(path.join(dir, 'conf.d'), { recursive: true });
  writeFileSync(path.join(dir, 'nginx.conf'), main.join('\n'));
  const perFile = 36 * 1024;
  let server = 0;
  for (let i = 0; i * perFile < mb * 1024 * 1024; i++) {
    const lines = [];
    let size = 0;
    while (size < perFile) {
      const s = server++;
      const block = [
        'server {',
        '  listen 443 ssl;',
        `  server_name site${s % groups}.example.org www${s}.example.org;`,
        `  ssl_certificate /etc/nginx/tls/site${s}.crt;`,
        '  location / {',
        `    proxy_pass http://backend_${s % groups};`,
        '    proxy_set_header Host $host;',
        '  }',
        // One server of each file reads the map (each of its values is a finding of its own).
        ...(lines.length ? [] : ['  location /dynamic/ {', '    proxy_pass $site_backend;', '  }']),
        '  location /docs/ {',
        `    return 301 https://docs${s}.example.com$request_uri;`,
        '  }',
        '}',
      ].join('\n');
      lines.push(block);
      size += block.length + 1;
    }
    writeFileSync(path.join(dir, 'conf.d', `site-${String(i).padStart(4, '0')}.conf`), `${lines.join('\n')}\n`);
  }
} else {
  const line = 'x'.repeat(1000);
  const perFile = 512 * 1024;
  const body = Array.from({ length: Math.floor(perFile / 1020) }, (_, i) => `k${i}: "${line}"`).join('\n');
  for (let i = 0; i * perFile < mb * 1024 * 1024; i++) {
    const d = path.join(dir, `app${Math.floor(i / 50)}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(path.join(d, `values-${i}.yaml`), `image: registry.example.com/app/a${i}:1.0\nhome: https://example.org/a${i}\n${body}\n`);
  }
}
