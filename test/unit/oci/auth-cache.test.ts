import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/errors.js';
import { HttpClient } from '../../../src/net/http.js';
import { RegistryAuth } from '../../../src/oci/auth.js';
import { CredentialStore } from '../../../src/oci/credentials.js';
import { mustRun } from '../../support/cli.js';
import { startTokenServer, type RunningTokenServer } from '../../support/token-server.js';

describe('bearer tokens', () => {
  let dir: string;
  let server: RunningTokenServer;
  let http: HttpClient;
  // The registry is on this machine, as its token server is (a realm on this machine from a registry elsewhere is refused: hostile-24-net).
  const host = '127.0.0.1:5000';

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-auth-unit-'));
    const key = path.join(dir, 'k.pem');
    const cert = path.join(dir, 'c.pem');
    await mustRun('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=t']);
    server = await startTokenServer({ keyFile: key, certFile: cert, users: { u: 'p' }, expiresIn: 300 });
    http = new HttpClient({ httpProxy: '', httpsProxy: '', noProxy: '' });
  });
  afterAll(async () => {
    await http.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const challenge = () => `Bearer realm="${server.realm}",service="${server.service}"`;
  const credentialsFor = async (auth: string) => {
    const d = await mkdtemp(path.join(dir, 'cfg-'));
    await writeFile(path.join(d, 'config.json'), JSON.stringify({ auths: { [host]: { auth: Buffer.from(auth).toString('base64') } } }));
    return new CredentialStore({ env: { DOCKER_CONFIG: d, HOME: dir } });
  };

  it('asks once per (host, scope) and reuses the token until shortly before it expires', async () => {
    let now = 1_000_000;
    const auth = new RegistryAuth({ http, credentials: await credentialsFor('u:p'), now: () => now });
    const before = server.requests.length;
    const a = await auth.respond(host, host, challenge(), ['repository:team/a:pull'], 'team/a');
    expect(a.header).toMatch(/^Bearer /);
    expect(await auth.headerFor(host, ['repository:team/a:pull'])).toBe(a.header);
    expect(server.requests.length - before).toBe(1);
    expect(server.requests[server.requests.length - 1]).toMatchObject({ account: 'u', scopes: ['repository:team/a:pull'], outcome: 'ok' });
    // another repository: its own scope, its own token, fetched up front
    const b = await auth.headerFor(host, ['repository:team/b:pull,push', 'repository:team/a:pull']);
    expect(b).not.toBe(a.header);
    expect(server.requests[server.requests.length - 1].scopes).toEqual(['repository:team/a:pull', 'repository:team/b:pull,push']);
    expect(server.requests.length - before).toBe(2);
    now += 290_000; // inside the renewal margin of a 300 s token
    const renewed = await auth.headerFor(host, ['repository:team/a:pull']);
    expect(renewed).not.toBe(a.header);
    expect(server.requests.length - before).toBe(3);
  });

  it('says wrong credentials for the registry, where they came from, without the secret', async () => {
    const creds = await credentialsFor('u:not-the-password');
    const auth = new RegistryAuth({ http, credentials: creds });
    const err = await auth.respond(host, host, challenge(), ['repository:team/a:pull'], 'team/a').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('AUTH');
    expect((err as FerryError).message).toContain(host);
    expect((err as FerryError).message).toContain('config.json');
    expect((err as FerryError).message).not.toContain('not-the-password');
  });

  it('answers a Basic challenge with the stored credentials, or says none were found', async () => {
    const auth = new RegistryAuth({ http, credentials: await credentialsFor('u:p') });
    const r = await auth.respond(host, host, 'Basic realm="x"', [], undefined);
    expect(r.header).toBe('Basic ' + Buffer.from('u:p').toString('base64'));
    const anon = new RegistryAuth({ http, credentials: new CredentialStore({ env: { HOME: dir } }) });
    const err = await anon.respond(host, host, 'Basic realm="x"', [], 'team/a').catch((e: unknown) => e);
    expect((err as FerryError).code).toBe('AUTH');
    expect((err as FerryError).message).toMatch(/no credentials were found/);
    expect((err as FerryError).message).toContain(path.join(dir, '.docker', 'config.json'));
  });
});
