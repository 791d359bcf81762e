import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { runCommand } from './cli.js';

/**
 * A containerd of the test's own (no CRI), on a socket in a temp dir, started before the
 * describe's tests and stopped after them; `ctr` runs against it, `log()` is its recent output.
 */
export function containerdFor(prefix: string) {
  let proc: ChildProcess | undefined;
  let dir: string;
  let sock: string;
  let log = '';
  beforeAll(async () => {
    expect(existsSync('/usr/bin/containerd'), 'containerd is not installed (scripts/install-test-deps.sh installs it)').toBe(true);
    dir = await mkdtemp(path.join(os.tmpdir(), prefix));
    sock = path.join(dir, 'containerd.sock');
    await writeFile(
      path.join(dir, 'config.toml'),
      ['version = 2', `root = "${dir}/root"`, `state = "${dir}/state"`, 'disabled_plugins = ["io.containerd.grpc.v1.cri"]', '[grpc]', `  address = "${sock}"`, '[ttrpc]', `  address = "${sock}.ttrpc"`, ''].join('\n'),
    );
    proc = spawn('/usr/bin/containerd', ['--config', path.join(dir, 'config.toml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (d) => (log = (log + d).slice(-20_000)));
    proc.stderr!.on('data', (d) => (log = (log + d).slice(-20_000)));
    for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((res) => setTimeout(res, 100));
    expect(existsSync(sock), `containerd did not start:\n${log}`).toBe(true);
  });
  afterAll(async () => {
    if (proc?.pid && proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc!.once('exit', r));
    }
    if (dir) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  });
  return {
    ctr: (args: string[]) => runCommand('ctr', ['--address', sock, '--namespace', 'ferry-test', ...args], { timeoutMs: 120_000 }),
    log: () => log,
  };
}
