import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';

/**
 * An in-process reverse proxy in front of a real registry (or any HTTP server) that injects
 * faults into the requests matching a rule: reset the connection after N body bytes, answer
 * 429 with Retry-After, answer 503, flip one byte of the body, or let the upstream act on a
 * request and then drop its answer. Everything else passes
 * through untouched (the Host header too, so upload Locations point back at the proxy).
 */
export type FaultAction =
  | { kind: 'reset'; afterBytes: number }
  | { kind: 'status'; status: number; retryAfter?: string }
  | { kind: 'corrupt'; atByte?: number }
  /** Forward the request, then cut the connection instead of relaying the answer (a lost response). */
  | { kind: 'drop' }
  /** Relay the first `afterBytes` of the answer, then one byte every `everyMs` (default 200): a slow-drip server. */
  | { kind: 'drip'; afterBytes: number; everyMs?: number }
  /** Take the request and never answer it (no headers, connection left open). */
  | { kind: 'silent' }
  /** Answer it here, never forwarding it: a registry's lie (`200` to a HEAD for a blob it lacks, `201` to a mount that did nothing). */
  | { kind: 'reply'; status: number; headers?: (path: string) => Record<string, string> }
  /** Forward it, then change the answer's headers (`location`, `docker-content-digest`) before relaying it. */
  | { kind: 'headers'; set: (headers: http.IncomingHttpHeaders) => Record<string, string> };

export interface FaultRule {
  method?: string;
  /** Matches the request path (with query). */
  path: RegExp;
  action: FaultAction;
  /** How many matching requests to affect (default 1; Infinity for all). */
  times?: number;
  /** Let this many matching requests through untouched first. */
  skip?: number;
  /** Only requests with (true) or without (false) a Range header. */
  withRange?: boolean;
}

export interface ProxiedRequest {
  method: string;
  path: string;
  range?: string;
  status?: number;
  fault?: FaultAction['kind'];
}

export interface FaultProxy {
  /** 127.0.0.1:port */
  host: string;
  url: string;
  requests: ProxiedRequest[];
  addRule(rule: FaultRule): void;
  clearRules(): void;
  stop(): Promise<void>;
}

export async function startFaultProxy(upstream: string, opts: { ca?: string | Buffer } = {}): Promise<FaultProxy> {
  const up = new URL(upstream);
  const rules: Array<FaultRule & { left: number; skipLeft: number }> = [];
  const requests: ProxiedRequest[] = [];
  const mod = up.protocol === 'https:' ? https : http;
  const agent = up.protocol === 'https:' ? new https.Agent({ keepAlive: true, ca: opts.ca }) : new http.Agent({ keepAlive: true });

  const server = http.createServer((req, res) => {
    const record: ProxiedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', range: req.headers.range };
    requests.push(record);
    const rule = rules.find(
      (r) =>
        r.left > 0 &&
        (!r.method || r.method === req.method) &&
        r.path.test(req.url ?? '/') &&
        (r.withRange === undefined || r.withRange === !!req.headers.range),
    );
    let action: FaultAction | undefined;
    if (rule && rule.skipLeft > 0) {
      rule.skipLeft--;
    } else if (rule) {
      rule.left--;
      record.fault = rule.action.kind;
      action = rule.action;
    }
    if (action?.kind === 'status') {
      req.resume();
      record.status = action.status;
      res.writeHead(action.status, { 'content-type': 'application/json', ...(action.retryAfter !== undefined ? { 'retry-after': action.retryAfter } : {}) });
      res.end(JSON.stringify({ errors: [{ code: action.status === 429 ? 'TOOMANYREQUESTS' : 'UNAVAILABLE', message: 'injected by the fault proxy' }] }));
      return;
    }
    if (action?.kind === 'silent') {
      req.resume();
      return;
    }
    if (action?.kind === 'reply') {
      req.resume();
      record.status = action.status;
      res.writeHead(action.status, action.headers?.(req.url ?? '/') ?? {});
      res.end();
      return;
    }
    const upReq = mod.request(
      {
        protocol: up.protocol,
        hostname: up.hostname,
        port: up.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (upRes) => {
        record.status = upRes.statusCode;
        if (action?.kind === 'drop') {
          upRes.resume();
          upRes.on('end', () => res.socket?.destroy());
          return;
        }
        if (action?.kind === 'headers') {
          res.writeHead(upRes.statusCode ?? 502, { ...upRes.headers, ...action.set(upRes.headers) });
          upRes.pipe(res);
          return;
        }
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        if (!action) {
          upRes.pipe(res);
          return;
        }
        let sent = 0;
        const at = action.kind === 'corrupt' ? (action.atByte ?? 0) : 0;
        if (action.kind === 'drip') {
          const held: Buffer[] = [];
          let ended = false;
          let timer: NodeJS.Timeout | undefined;
          const next = () => {
            if (res.destroyed) return clearInterval(timer);
            const head = held[0];
            if (!head) {
              if (ended) {
                clearInterval(timer);
                res.end();
              }
              return;
            }
            res.write(head.subarray(0, 1));
            if (head.length > 1) held[0] = head.subarray(1);
            else held.shift();
          };
          res.on('close', () => {
            clearInterval(timer);
            upRes.destroy();
          });
          upRes.on('data', (chunk: Buffer) => {
            const room = Math.max(0, action.afterBytes - sent);
            if (room > 0) {
              const part = chunk.subarray(0, room);
              sent += part.length;
              res.write(part);
            }
            if (chunk.length > room) {
              held.push(chunk.subarray(room));
              timer ??= setInterval(next, action.everyMs ?? 200);
            }
          });
          upRes.on('end', () => {
            ended = true;
            if (!timer) res.end();
          });
          upRes.on('error', () => res.socket?.destroy());
          return;
        }
        upRes.on('data', (chunk: Buffer) => {
          if (action.kind === 'reset') {
            const room = action.afterBytes - sent;
            if (room <= 0) return;
            const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
            sent += part.length;
            res.write(part);
            if (sent >= action.afterBytes) {
              upRes.destroy();
              // Let the bytes leave, then cut the connection without finishing the response.
              setTimeout(() => res.socket?.destroy(), 20);
            }
            return;
          }
          if (action.kind === 'corrupt' && at >= sent && at < sent + chunk.length) {
            const copy = Buffer.from(chunk);
            copy[at - sent] ^= 0xff;
            chunk = copy;
          }
          sent += chunk.length;
          res.write(chunk);
        });
        upRes.on('end', () => {
          if (action.kind !== 'reset' || sent < action.afterBytes) res.end();
        });
        upRes.on('error', () => res.socket?.destroy());
      },
    );
    upReq.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.socket?.destroy();
    });
    req.pipe(upReq);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    requests,
    addRule: (rule) => rules.push({ ...rule, left: rule.times ?? 1, skipLeft: rule.skip ?? 0 }),
    clearRules: () => {
      rules.length = 0;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A tiny forward proxy (CONNECT tunnels and plain-HTTP forwarding) for HTTPS_PROXY tests. */
export interface ConnectProxy {
  url: string;
  /** host:port of every CONNECT, and absolute URLs of forwarded plain requests. */
  seen: string[];
  stop(): Promise<void>;
}

export async function startConnectProxy(): Promise<ConnectProxy> {
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    const target = new URL(req.url ?? '');
    const upReq = http.request({ hostname: target.hostname, port: target.port, path: target.pathname + target.search, method: req.method, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    upReq.on('error', () => res.writeHead(502).end());
    req.pipe(upReq);
  });
  server.on('connect', (req, clientSocket: Socket, head: Buffer) => {
    seen.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const upstream = net.connect(Number(port), host, () => {
      clientSocket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(clientSocket);
      clientSocket.pipe(upstream);
    });
    sockets.add(clientSocket);
    sockets.add(upstream);
    const end = () => {
      upstream.destroy();
      clientSocket.destroy();
    };
    upstream.on('error', end);
    clientSocket.on('error', end);
    clientSocket.on('close', () => sockets.delete(clientSocket));
    upstream.on('close', () => sockets.delete(upstream));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Answer that never ends, for fault injection: the status, `head`, then `chunk` again and again
 * for as long as the client reads (a body a crafted server could send to exhaust memory or time).
 */
export function writeEndless(res: http.ServerResponse, status: number, head: string, chunk: Buffer = Buffer.alloc(1 << 16, 0x61)): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.write(head);
  const more = () => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once('drain', more);
  };
  res.on('error', () => {});
  more();
}
