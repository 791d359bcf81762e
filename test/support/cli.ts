import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FERRY = path.join(ROOT, 'dist', 'ferry.mjs');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the built CLI as a user would (node dist/ferry.mjs …). Build first: `npm run build`. */
export function runFerry(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return runCommand(process.execPath, [FERRY, ...args], opts);
}

export function runCommand(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, NO_COLOR: '1', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    // A child that exits without reading stdin would otherwise fail the run with EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** Like runCommand but throws with the output when the exit code is not 0. */
export async function mustRun(cmd: string, args: string[], opts: Parameters<typeof runCommand>[2] = {}): Promise<RunResult> {
  const r = await runCommand(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Like runFerry but throws with the output when ferry does not exit 0. */
export async function mustRunFerry(args: string[], opts: Parameters<typeof runFerry>[1] = {}): Promise<RunResult> {
  const r = await runFerry(args, opts);
  if (r.code !== 0) throw new Error(`ferry ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/**
 * Run a tool that may want privileges it only needs nominally (`nft -c`, `iptables-restore
 * --test`): as is, and again inside an unprivileged user+network namespace when refused.
 */
export async function runPrivileged(cmd: string, args: string[], input?: string): Promise<RunResult> {
  const r = await runCommand(cmd, args, { input });
  if (r.code !== 0 && /Operation not permitted|Permission denied/i.test(r.stderr) && process.getuid?.() !== 0) {
    return runCommand('unshare', ['-rn', cmd, ...args], { input });
  }
  return r;
}
