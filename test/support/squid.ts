import { spawn, type ChildProcess } from 'node:child_process';
import { access, chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { waitForPort } from './chart-repo.js';
import { mustRun } from './cli.js';
import { freePort } from './registry.js';

export const SQUID = '/usr/sbin/squid';

export interface Squid {
  /** The loopback ports it listens on, one per `listeners`. */
  ports: number[];
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * A real squid on 127.0.0.1 (foreground, config, pid and log in `dir`, no cache). With
 * `password`, basic auth for user `ferry` and an acl `authed`; with `accessLog`, its access log
 * in that file; `config` lines (acls, http_access, hosts_file …) follow. `dir` must be readable
 * by squid's user (0755; writable too for an access log).
 */
export async function startSquid(dir: string, opts: { config: string[]; listeners?: number; password?: string; accessLog?: string }): Promise<Squid> {
  await access(SQUID).catch(() => {
    throw new Error('squid is not installed: run scripts/install-test-deps.sh (Debian package squid)');
  });
  const ports: number[] = [];
  for (let i = 0; i < (opts.listeners ?? 1); i++) ports.push(await freePort());
  const auth: string[] = [];
  if (opts.password !== undefined) {
    const passwd = path.join(dir, 'passwd');
    await mustRun('htpasswd', ['-bc', passwd, 'ferry', opts.password]);
    await chmod(passwd, 0o644);
    auth.push(`auth_param basic program /usr/lib/squid/basic_ncsa_auth ${passwd}`, 'auth_param basic realm ferry-test', 'acl authed proxy_auth REQUIRED');
  }
  const conf = path.join(dir, 'squid.conf');
  const log = path.join(dir, 'cache.log');
  await writeFile(
    conf,
    [
      ...ports.map((p) => `http_port 127.0.0.1:${p}`),
      `pid_filename ${path.join(dir, 'squid.pid')}`,
      `cache_log ${log}`,
      // With `accessLog`, squid's log of every request it handled (a CONNECT names host:port).
      opts.accessLog ? `access_log stdio:${opts.accessLog}` : 'access_log none',
      'cache deny all',
      'shutdown_lifetime 0 seconds',
      ...auth,
      ...opts.config,
      '',
    ].join('\n'),
  );
  const proc = spawn(SQUID, ['-N', '-f', conf], { stdio: 'ignore' });
  let logText = '';
  proc.on('exit', () => void readFile(log, 'utf8').then((t) => (logText = t), () => undefined));
  for (const p of ports) await waitForPort(p, proc, () => logText, 'squid');
  return {
    ports,
    process: proc,
    async stop() {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}
