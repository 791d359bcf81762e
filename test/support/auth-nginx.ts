import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { NGINX_BIN, waitForPort } from './chart-repo.js';
import { mustRun } from './cli.js';
import { freePort, type TestCa } from './registry.js';

/**
 * nginx serving `root` on loopback, optionally behind `auth_basic` (an htpasswd file made with
 * `openssl passwd -apr1`) and over TLS; its access log records each request's path and its
 * Authorization header (`-` when none), so a test can tell which requests carried credentials.
 * `redirects` answer 302 from a path prefix to another URL prefix.
 */
export interface AuthNginx {
  url: string;
  /** Access log lines: `<uri> <authorization or ->`. */
  log(): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startAuthNginx(root: string, opts: { user?: string; password?: string; tls?: TestCa; clientCa?: string; redirects?: Record<string, string> } = {}): Promise<AuthNginx> {
  const conf = await mkdtemp(path.join(os.tmpdir(), 'ferry-auth-nginx-'));
  const port = await freePort();
  let auth = '';
  if (opts.user !== undefined) {
    const hash = (await mustRun('openssl', ['passwd', '-apr1', '-stdin'], { input: `${opts.password ?? ''}\n` })).stdout.trim();
    await writeFile(path.join(conf, 'htpasswd'), `${opts.user}:${hash}\n`);
    auth = `    auth_basic "ferry test";\n    auth_basic_user_file ${conf}/htpasswd;\n`;
  }
  const redirects = Object.entries(opts.redirects ?? {})
    .map(([from, to]) => `    location ~ ^${from}(.*)$ { return 302 ${to}$1; }\n`)
    .join('');
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  await writeFile(
    path.join(conf, 'nginx.conf'),
    `${user}worker_processes 1;
pid ${conf}/nginx.pid;
error_log ${conf}/error.log warn;
events { worker_connections 64; }
http {
  log_format creds '$request_uri "$http_authorization"';
  access_log ${conf}/access.log creds;
  client_body_temp_path ${conf}/body; proxy_temp_path ${conf}/proxy; fastcgi_temp_path ${conf}/fastcgi;
  uwsgi_temp_path ${conf}/uwsgi; scgi_temp_path ${conf}/scgi;
  types { application/x-yaml yaml; application/gzip tgz; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port}${opts.tls ? ' ssl' : ''};
${opts.tls ? `    ssl_certificate ${opts.tls.certFile};\n    ssl_certificate_key ${opts.tls.keyFile};\n` : ''}${opts.clientCa ? `    ssl_verify_client on;\n    ssl_client_certificate ${opts.clientCa};\n` : ''}${auth}    root ${root};
${redirects}    location / { try_files $uri =404; }
  }
}
`,
  );
  const proc = spawn(NGINX_BIN, ['-p', conf, '-e', path.join(conf, 'error.log'), '-c', path.join(conf, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  await waitForPort(port, proc, () => stderr);
  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
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
