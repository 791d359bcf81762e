import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { create as tarCreate } from 'tar';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { mustRun } from './cli.js';
import { freePort, type TestCa } from './registry.js';

/**
 * Helm chart repositories for tests: charts packaged with `tar` the way `helm package` lays
 * them out (`<name>/…`, gzip), an `index.yaml` with digests, served by a real nginx on a
 * loopback port.
 */
export const NGINX_BIN = process.env.FERRY_TEST_NGINX_BIN ?? '/usr/sbin/nginx';

export interface PackagedChart {
  name: string;
  version: string;
  file: string;
  digest: string;
  size: number;
  metadata: Record<string, unknown>;
}

export const sha256Hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/**
 * Package a chart directory as `<outDir>/<name>-<version>.tgz`. `edit` changes Chart.yaml of a
 * staged copy (e.g. another version), never the source.
 */
export async function packageChart(srcDir: string, outDir: string, edit?: (meta: Record<string, unknown>) => void): Promise<PackagedChart> {
  const stage = await mkdtemp(path.join(os.tmpdir(), 'ferry-chart-stage-'));
  try {
    const baseName = path.basename(srcDir);
    const staged = path.join(stage, baseName);
    await cp(srcDir, staged, { recursive: true });
    const chartYaml = path.join(staged, 'Chart.yaml');
    const meta = parseYaml(await readFile(chartYaml, 'utf8')) as Record<string, unknown>;
    if (edit) {
      edit(meta);
      await writeFile(chartYaml, stringifyYaml(meta));
    }
    const name = String(meta.name);
    const version = String(meta.version);
    // helm package puts the chart under a directory named after the chart.
    const top = path.join(stage, 'pkg');
    await mkdir(top);
    await cp(staged, path.join(top, name), { recursive: true });
    await mkdir(outDir, { recursive: true });
    const file = path.join(outDir, `${name}-${version}.tgz`);
    await tarCreate({ gzip: true, file, cwd: top, portable: true, noMtime: true }, [name]);
    const bytes = await readFile(file);
    return { name, version, file, digest: sha256Hex(bytes), size: bytes.length, metadata: meta };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** index.yaml as `helm repo index` writes it; `url` per chart (relative or absolute), `digest` overridable. */
export async function writeRepoIndex(dir: string, charts: Array<PackagedChart & { url?: string; badDigest?: boolean }>): Promise<void> {
  const entries: Record<string, unknown[]> = {};
  for (const c of charts) {
    const { dependencies, ...meta } = c.metadata as Record<string, unknown>;
    (entries[c.name] ??= []).push({
      ...meta,
      ...(dependencies ? { dependencies } : {}),
      apiVersion: meta.apiVersion ?? 'v2',
      name: c.name,
      version: c.version,
      urls: [c.url ?? path.basename(c.file)],
      digest: c.badDigest ? sha256Hex('not the archive') : c.digest,
      created: '2026-01-01T00:00:00Z',
    });
  }
  await writeFile(path.join(dir, 'index.yaml'), stringifyYaml({ apiVersion: 'v1', entries, generated: '2026-01-01T00:00:00Z' }));
}

export interface StaticServer {
  url: string;
  port: number;
  /** Access log lines: `<uri> <Authorization header, or ->`. */
  log(): Promise<string[]>;
  stop(): Promise<void>;
}

/** Wait until `proc` (a service started by a test) accepts connections on the loopback `port`. */
export async function waitForPort(port: number, proc: ChildProcess, log: () => string, name = 'nginx'): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${name} exited ${proc.exitCode}: ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${name} did not listen on ${port}: ${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const running = new Set<ChildProcess>();
let exitHook = false;

/**
 * What else a test nginx does: `auth_basic` for one user (an htpasswd line made with `openssl
 * passwd -apr1`), a client certificate required (`clientCa`), 302s from a path prefix to another
 * URL prefix, and an access log of each request's path and Authorization header (`log()`).
 */
export interface StaticServerOptions {
  tls?: TestCa;
  basicAuth?: { user: string; password: string };
  clientCa?: string;
  redirects?: Record<string, string>;
}

/** Serve `root` on 127.0.0.1 with nginx (config in a temp dir, foreground): plain HTTP, or HTTPS with `tls`. */
export async function startStaticServer(root: string, opts: StaticServerOptions = {}): Promise<StaticServer> {
  const conf = await mkdtemp(path.join(os.tmpdir(), 'ferry-nginx-'));
  const port = await freePort();
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  let extra = '';
  if (opts.basicAuth) {
    const hash = (await mustRun('openssl', ['passwd', '-apr1', '-stdin'], { input: `${opts.basicAuth.password}\n` })).stdout.trim();
    await writeFile(path.join(conf, 'htpasswd'), `${opts.basicAuth.user}:${hash}\n`);
    extra += `    auth_basic "ferry test";\n    auth_basic_user_file ${conf}/htpasswd;\n`;
  }
  if (opts.clientCa) extra += `    ssl_verify_client on;\n    ssl_client_certificate ${opts.clientCa};\n`;
  for (const [from, to] of Object.entries(opts.redirects ?? {})) extra += `    location ~ ^${from}(.*)$ { return 302 ${to}$1; }\n`;
  const config = `${user}worker_processes 1;
pid ${conf}/nginx.pid;
error_log ${conf}/error.log warn;
events { worker_connections 64; }
http {
  log_format creds '$request_uri "$http_authorization"';
  access_log ${conf}/access.log creds;
  client_body_temp_path ${conf}/body;
  proxy_temp_path ${conf}/proxy;
  fastcgi_temp_path ${conf}/fastcgi;
  uwsgi_temp_path ${conf}/uwsgi;
  scgi_temp_path ${conf}/scgi;
  types { application/x-yaml yaml; application/gzip tgz; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port}${opts.tls ? ' ssl' : ''};
${opts.tls ? `    ssl_certificate ${opts.tls.certFile};\n    ssl_certificate_key ${opts.tls.keyFile};\n` : ''}${extra}    root ${root};
    location / { try_files $uri =404; }
  }
}
`;
  await writeFile(path.join(conf, 'nginx.conf'), config);
  const proc = spawn(NGINX_BIN, ['-p', conf, '-e', path.join(conf, 'error.log'), '-c', path.join(conf, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const p of running) p.kill('SIGKILL');
    });
  }
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  await waitForPort(port, proc, () => stderr);
  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    async log() {
      const text = await readFile(path.join(conf, 'access.log'), 'utf8').catch(() => '');
      return text.split('\n').filter(Boolean).map((l) => l.replace(/"(.*)"$/, '$1'));
    },
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGQUIT');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      await rm(conf, { recursive: true, force: true });
    },
  };
}

/**
 * An OCI image layout holding one chart as `helm push` writes it (config = Chart.yaml as JSON,
 * content layer = the archive bytes), so skopeo can copy it into a registry.
 */
export async function writeHelmLayout(dir: string, chart: PackagedChart, refName: string): Promise<{ digest: string }> {
  const blobs = path.join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (bytes: Buffer) => {
    const hex = sha256Hex(bytes);
    await writeFile(path.join(blobs, hex), bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
  };
  const config = await put(Buffer.from(JSON.stringify({ name: chart.name, version: chart.version, apiVersion: 'v2', appVersion: chart.metadata.appVersion })));
  const layer = await put(await readFile(chart.file));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip', ...layer }],
      annotations: { 'org.opencontainers.image.title': chart.name, 'org.opencontainers.image.version': chart.version },
    }),
  );
  const m = await put(manifest);
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    path.join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': refName } }] }),
  );
  return { digest: m.digest };
}

/**
 * A repository of one chart, `hello` 1.0.0 (a ConfigMap), packaged into `<webRoot>/charts` with its
 * `index.yaml`, its source under `<work>/src/hello`: what import tests carry beside images and files.
 */
export async function writeHelloChartRepo(work: string, webRoot: string): Promise<PackagedChart> {
  const chartSrc = path.join(work, 'src', 'hello');
  await mkdir(path.join(chartSrc, 'templates'), { recursive: true });
  await writeFile(path.join(chartSrc, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'hello', version: '1.0.0' }));
  await writeFile(path.join(chartSrc, 'templates', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\n');
  const chart = await packageChart(chartSrc, path.join(webRoot, 'charts'));
  await writeRepoIndex(path.join(webRoot, 'charts'), [chart]);
  return chart;
}
