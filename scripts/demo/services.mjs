// Loopback services the demo starts: Debian's docker-registry (the CNCF Distribution registry)
// and a small static HTTP server for the chart repository, the files and the APT repository.
import { spawn } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

export const REGISTRY_BIN = process.env.FERRY_DEMO_REGISTRY_BIN ?? '/usr/bin/docker-registry';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitForRegistry(url, child) {
  for (let i = 0; i < 300 && child.exitCode === null; i++) {
    try {
      const r = await fetch(`${url}/v2/`);
      if (r.status === 200) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** A real registry on a free loopback port, its storage under `dir`. */
export async function startDockerRegistry(dir) {
  if (!existsSync(REGISTRY_BIN)) {
    throw new Error(`${REGISTRY_BIN} is missing: run \`bash scripts/demo.sh\` (it installs Debian's docker-registry), or apt-get install docker-registry`);
  }
  await mkdir(path.join(dir, 'storage'), { recursive: true });
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const config = path.join(dir, 'config.yml');
    await writeFile(
      config,
      `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${JSON.stringify(path.join(dir, 'storage'))}\n` +
        `http:\n  addr: ${host}\n  secret: ferry-demo-${port}\n`,
    );
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_') && !k.startsWith('OTEL_')));
    const child = spawn(REGISTRY_BIN, ['serve', config], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr.on('data', (d) => (log = (log + d).slice(-4000)));
    const url = `http://${host}`;
    if (await waitForRegistry(url, child)) {
      return { host, url, stop: () => child.kill('SIGTERM') };
    }
    child.kill('SIGKILL');
    if (!/address already in use/i.test(log)) throw new Error(`docker-registry did not start on ${host}:\n${log}`);
  }
  throw new Error('docker-registry did not start: no free port');
}

/** Read-only static files from `root` on a free loopback port (what a chart repo, a download site and an APT repo are). */
export async function startStaticServer(root) {
  const server = http.createServer(async (req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.join(root, path.normalize(urlPath).replace(/^(\.\.[/\\])+/, ''));
    const s = await stat(file).catch(() => undefined);
    if (!s?.isFile() || !file.startsWith(root + path.sep)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-length': String(s.size) });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return { host: `127.0.0.1:${port}`, url: `http://127.0.0.1:${port}`, stop: () => server.close() };
}
