import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile, copyFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/errors.js';
import { CERTS_D_ROOTS, certsDCandidates, loadHostTls } from '../../../src/net/certs-d.js';
import { makeClientCert, makeTestCa } from '../../support/registry.js';

/** Reading certs.d directories as containers/image does: which directory, which files, every problem naming its file. */
let work: string;
let client: { certFile: string; keyFile: string; caFile: string };
let other: { certFile: string; keyFile: string; caFile: string };
let ca: { caFile: string };

async function hostDir(root: string, name: string, files: Record<string, string>): Promise<string> {
  const dir = path.join(root, name);
  await mkdir(dir, { recursive: true });
  for (const [f, src] of Object.entries(files)) await copyFile(src, path.join(dir, f));
  return dir;
}

const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as FerryError);

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-certs-d-unit-'));
  [client, other, ca] = await Promise.all([makeClientCert(path.join(work, 'pki-a')), makeClientCert(path.join(work, 'pki-b')), makeTestCa(path.join(work, 'pki-ca'))]);
}, 60_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('where ferry looks', () => {
  it('in the order of containers/image: $HOME/.config/containers/certs.d, /etc/containers/certs.d, /etc/docker/certs.d', () => {
    expect(CERTS_D_ROOTS({ HOME: '/home/u' })).toEqual(['/home/u/.config/containers/certs.d', '/etc/containers/certs.d', '/etc/docker/certs.d']);
  });

  it('a target directory for the host first, then --cert-dir, then host:port under each root; port 443 as host, then host:443', () => {
    expect(certsDCandidates('reg.example', '5000', { roots: ['/r1', '/r2'] })).toEqual(['/r1/reg.example:5000', '/r2/reg.example:5000']);
    expect(certsDCandidates('reg.example', '', { certDir: '/cd', hostCertDirs: { 'reg.example': '/t' }, roots: ['/r1'] })).toEqual(['/t', '/cd', '/r1/reg.example', '/r1/reg.example:443']);
    // A target's directory is for its own host only.
    expect(certsDCandidates('other.example', '', { hostCertDirs: { 'reg.example': '/t' }, roots: [] })).toEqual([]);
  });

  it('uses the first directory that exists, and only it (no merge)', async () => {
    const r1 = path.join(work, 'first', 'r1');
    const r2 = path.join(work, 'first', 'r2');
    await hostDir(r1, 'h.example:5000', { 'ca.crt': ca.caFile });
    await hostDir(r2, 'h.example:5000', { 'client.cert': client.certFile, 'client.key': client.keyFile });
    const t = await loadHostTls('h.example', '5000', { roots: [path.join(work, 'first', 'none'), r1, r2] });
    expect(t.dir).toBe(path.join(r1, 'h.example:5000'));
    expect(t.cas).toHaveLength(1);
    expect(t.clients).toEqual([]);
    const none = await loadHostTls('nowhere.example', '5000', { roots: [r1, r2] });
    expect(none.dir).toBeUndefined();
    expect(none.searched).toEqual([path.join(r1, 'nowhere.example:5000'), path.join(r2, 'nowhere.example:5000')]);
  });

  it('reads every *.crt as CAs and each <name>.cert with <name>.key as a client certificate, symbolic links followed', async () => {
    const dir = await hostDir(path.join(work, 'full'), 'h:1', { 'a.crt': ca.caFile, 'b.crt': client.caFile, 'client.cert': client.certFile, 'client.key': client.keyFile });
    await symlink(other.certFile, path.join(dir, 'z.cert'));
    await symlink(other.keyFile, path.join(dir, 'z.key'));
    const t = await loadHostTls('h', '1', { roots: [path.join(work, 'full')] });
    expect(t.cas).toHaveLength(2);
    expect(t.clients.map((c) => [path.basename(c.certFile), path.basename(c.keyFile)])).toEqual([['client.cert', 'client.key'], ['z.cert', 'z.key']]);
  });

  it('--cert-dir holds the files directly', async () => {
    const dir = await hostDir(work, 'flat', { 'client.cert': client.certFile, 'client.key': client.keyFile });
    const t = await loadHostTls('any.example', '', { certDir: dir, roots: [] });
    expect(t.dir).toBe(dir);
    expect(t.clients).toHaveLength(1);
  });
});

describe('what ferry refuses, naming the file', () => {
  const root = () => path.join(work, 'bad');
  it('a .cert without its .key, and a .key without its .cert, name both paths', async () => {
    const d1 = await hostDir(root(), 'nokey:1', { 'client.cert': client.certFile });
    const e1 = await failure(loadHostTls('nokey', '1', { roots: [root()] }));
    expect(e1).toBeInstanceOf(FerryError);
    expect(e1!.message).toContain(path.join(d1, 'client.cert'));
    expect(e1!.message).toContain(path.join(d1, 'client.key'));
    expect(e1!.hint).toContain('.crt');
    const d2 = await hostDir(root(), 'nocert:1', { 'client.key': client.keyFile });
    const e2 = await failure(loadHostTls('nocert', '1', { roots: [root()] }));
    expect(e2!.message).toContain(path.join(d2, 'client.key'));
    expect(e2!.message).toContain(path.join(d2, 'client.cert'));
  });

  it('a key that does not match its certificate names both files', async () => {
    const d = path.join(root(), 'mismatch:1');
    await mkdir(d, { recursive: true });
    await copyFile(client.certFile, path.join(d, 'me.cert'));
    await copyFile(other.keyFile, path.join(d, 'me.key'));
    const e = await failure(loadHostTls('mismatch', '1', { roots: [root()] }));
    expect(e).toBeInstanceOf(FerryError);
    expect(e!.message).toContain(path.join(d, 'me.cert'));
    expect(e!.message).toContain(path.join(d, 'me.key'));
  });

  it('a .crt with no certificate, an encrypted key, a FIFO, a huge file, and a file where the host directory should be', async () => {
    const d = path.join(root(), 'garbage:1');
    await mkdir(d, { recursive: true });
    await writeFile(path.join(d, 'ca.crt'), 'not a certificate\n');
    let e = await failure(loadHostTls('garbage', '1', { roots: [root()] }));
    expect(e!.message).toBe(`${path.join(d, 'ca.crt')}: no PEM certificate found`);

    const enc = path.join(root(), 'enc:1');
    await mkdir(enc, { recursive: true });
    await copyFile(client.certFile, path.join(enc, 'c.cert'));
    execFileSync('openssl', ['pkey', '-in', client.keyFile, '-aes256', '-passout', 'pass:secret', '-out', path.join(enc, 'c.key')]);
    e = await failure(loadHostTls('enc', '1', { roots: [root()] }));
    expect(e!.message).toContain(`${path.join(enc, 'c.key')}: the key of client certificate`);
    expect(e!.message).toContain('encrypted');

    const fifo = path.join(root(), 'fifo:1');
    await mkdir(fifo, { recursive: true });
    execFileSync('mkfifo', [path.join(fifo, 'ca.crt')]);
    e = await failure(loadHostTls('fifo', '1', { roots: [root()] }));
    expect(e!.message).toMatch(new RegExp(`^${path.join(fifo, 'ca.crt')}: cannot read CA certificate: a FIFO`));

    const big = path.join(root(), 'big:1');
    await mkdir(big, { recursive: true });
    await writeFile(path.join(big, 'ca.crt'), Buffer.alloc(2 * 1024 * 1024, 0x41));
    e = await failure(loadHostTls('big', '1', { roots: [root()] }));
    expect(e!.message).toContain(`${path.join(big, 'ca.crt')}: cannot read CA certificate: larger than`);

    await writeFile(path.join(root(), 'file:1'), 'x');
    e = await failure(loadHostTls('file', '1', { roots: [root()] }));
    expect(e!.message).toContain(`${path.join(root(), 'file:1')}: not a directory`);
  });

  it('a host name that is not a safe path segment is never joined to a root', () => {
    expect(certsDCandidates('..', '1', { roots: ['/r'] })).toEqual([]);
  });
});
