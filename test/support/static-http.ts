import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { FERRY } from './cli.js';

/**
 * A loopback static file server with `Range` support, for files and checksum files; plus fault
 * injection (drop a connection after N bytes), which is what an in-process fake is for.
 */
export interface StaticServer {
  url: string;
  /** Every request seen: method, path and Range header. */
  requests: Array<{ method: string; path: string; range?: string }>;
  /** Drop the connection after this many body bytes, for the next `times` GETs of `urlPath`. */
  dropAfter(urlPath: string, bytes: number, times?: number): void;
  close(): Promise<void>;
}

export async function startStaticServer(root: string): Promise<StaticServer> {
  const drops = new Map<string, { bytes: number; times: number }>();
  const requests: StaticServer['requests'] = [];
  const server = http.createServer(async (req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push({ method: req.method ?? 'GET', path: urlPath, ...(req.headers.range ? { range: req.headers.range } : {}) });
    const file = path.join(root, path.normalize(urlPath).replace(/^(\.\.[/\\])+/, ''));
    let size: number;
    try {
      const s = await stat(file);
      if (!s.isFile()) throw new Error('not a file');
      size = s.size;
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m) {
      start = Number(m[1]);
      if (start >= size) {
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
      res.writeHead(206, { 'content-length': String(size - start), 'content-range': `bytes ${start}-${size - 1}/${size}`, 'accept-ranges': 'bytes' });
    } else {
      res.writeHead(200, { 'content-length': String(size), 'accept-ranges': 'bytes' });
    }
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const drop = drops.get(urlPath);
    if (drop && drop.times > 0) {
      drop.times--;
      let sent = 0;
      const stream = createReadStream(file, { start });
      stream.on('data', (chunk) => {
        const c = chunk as Buffer;
        const room = drop.bytes - sent;
        if (room <= 0) return;
        const part = c.subarray(0, room);
        sent += part.length;
        res.write(part);
        if (sent >= drop.bytes) {
          stream.destroy();
          // Let the bytes leave, then cut the connection without finishing the response.
          setTimeout(() => req.socket.destroy(), 50);
        }
      });
      return;
    }
    createReadStream(file, { start }).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    dropAfter(urlPath, bytes, times = 1) {
      drops.set(urlPath, { bytes, times });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** `ferry serve … --json` in the background; resolves with its URL once it listens. */
export async function startFerryServe(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<{ url: string; stop(): Promise<void>; child: ChildProcess }> {
  const child = spawn(process.execPath, [FERRY, 'serve', ...args, '--listen', '127.0.0.1:0', '--json'], {
    cwd: opts.cwd,
    env: { ...process.env, NO_COLOR: '1', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      try {
        resolve((JSON.parse(out) as { url: string }).url);
      } catch {
        /* not complete yet */
      }
    });
    child.on('exit', (code) => reject(new Error(`ferry serve exited ${code}: ${err}`)));
  });
  return {
    url,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
