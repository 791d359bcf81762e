import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialStore, decodeAuthEntry, describeSearch, normalizeAuthKey } from '../../../src/oci/credentials.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('credential lookup', () => {
  let dir: string;
  let bin: string;
  let home: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-creds-'));
    bin = path.join(dir, 'bin');
    home = path.join(dir, 'home');
    await mkdir(bin, { recursive: true });
    await mkdir(path.join(home, '.docker'), { recursive: true });
    // A fake credential helper: knows two servers, logs what it was asked.
    await writeFile(
      path.join(bin, 'docker-credential-fake'),
      `#!/bin/sh
[ "$1" = get ] || exit 2
read -r server
echo "$server" >> "${dir}/helper.log"
case "$server" in
  helper.example) echo '{"ServerURL":"helper.example","Username":"hu","Secret":"hs"}' ;;
  https://index.docker.io/v1/) echo '{"ServerURL":"https://index.docker.io/v1/","Username":"<token>","Secret":"refresh-123"}' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`,
    );
    await chmod(path.join(bin, 'docker-credential-fake'), 0o755);
    await writeFile(path.join(bin, 'docker-credential-broken'), '#!/bin/sh\necho boom >&2\nexit 3\n');
    await chmod(path.join(bin, 'docker-credential-broken'), 0o755);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const envWith = (extra: NodeJS.ProcessEnv) => ({ HOME: home, PATH: `${bin}:${process.env.PATH}`, ...extra });

  async function dockerConfig(name: string, cfg: unknown): Promise<string> {
    const d = path.join(dir, name);
    await mkdir(d, { recursive: true });
    await writeFile(path.join(d, 'config.json'), JSON.stringify(cfg));
    return d;
  }

  it('reads auths (base64 auth, username/password, https:// keys) from $DOCKER_CONFIG/config.json', async () => {
    const d = await dockerConfig('plain', {
      auths: {
        'reg.example:5000': { auth: b64('alice:s3cr:et') },
        'https://other.example/v2/': { username: 'bob', password: 'pw' },
        'https://index.docker.io/v1/': { auth: b64('hubuser:hubpw') },
      },
    });
    const store = new CredentialStore({ env: envWith({ DOCKER_CONFIG: d }) });
    const a = await store.lookup('reg.example:5000');
    expect(a.credential).toEqual({ username: 'alice', password: 's3cr:et' });
    expect(a.source).toBe(path.join(d, 'config.json'));
    expect((await store.lookup('other.example')).credential).toEqual({ username: 'bob', password: 'pw' });
    expect((await store.lookup('docker.io')).credential).toEqual({ username: 'hubuser', password: 'hubpw' });
    expect((await store.lookup('registry-1.docker.io')).credential).toEqual({ username: 'hubuser', password: 'hubpw' });
    const none = await store.lookup('unknown.example');
    expect(none.credential).toBeUndefined();
    // containers' auth.json, the docker config, helm's registry config (HOME is the test's).
    expect(none.searched).toEqual([path.join(home, '.config', 'containers', 'auth.json'), path.join(d, 'config.json'), path.join(home, '.config', 'helm', 'registry', 'config.json')]);
  });

  it('falls back to ~/.docker/config.json and says so when nothing is found', async () => {
    await writeFile(path.join(home, '.docker', 'config.json'), JSON.stringify({ auths: { 'home.example': { auth: b64('h:p') } } }));
    const store = new CredentialStore({ env: envWith({}) });
    expect((await store.lookup('home.example')).credential).toEqual({ username: 'h', password: 'p' });
    const miss = await store.lookup('nowhere.example');
    expect(describeSearch(miss)).toContain(path.join(home, '.docker', 'config.json'));
  });

  it('prefers REGISTRY_AUTH_FILE, including repository-specific keys, then the docker config', async () => {
    const d = await dockerConfig('both', { auths: { 'reg.example': { auth: b64('docker:pw') }, 'only-docker.example': { auth: b64('d:x') } } });
    const authFile = path.join(dir, 'auth.json');
    await writeFile(authFile, JSON.stringify({ auths: { 'reg.example': { auth: b64('podman:pw') }, 'reg.example/team/app': { auth: b64('scoped:pw') } } }));
    const store = new CredentialStore({ env: envWith({ DOCKER_CONFIG: d, REGISTRY_AUTH_FILE: authFile }) });
    expect((await store.lookup('reg.example')).credential?.username).toBe('podman');
    expect((await store.lookup('reg.example', 'team/app')).credential?.username).toBe('scoped');
    const fallback = await store.lookup('only-docker.example');
    expect(fallback.credential?.username).toBe('d');
    expect(fallback.searched).toEqual([`${authFile} (REGISTRY_AUTH_FILE)`, path.join(home, '.config', 'containers', 'auth.json'), path.join(d, 'config.json')]);
  });

  it('asks credHelpers and credsStore helpers, with the server on stdin', async () => {
    const d = await dockerConfig('helpers', { credHelpers: { 'helper.example': 'fake' }, credsStore: 'fake', auths: { 'file.example': { auth: b64('f:p') } } });
    const store = new CredentialStore({ env: envWith({ DOCKER_CONFIG: d }) });
    const h = await store.lookup('helper.example');
    expect(h.credential).toEqual({ username: 'hu', password: 'hs' });
    expect(h.source).toBe('docker-credential-fake');
    // Docker Hub through credsStore: asked as the v1 URL, an identity token comes back.
    const hub = await store.lookup('docker.io');
    expect(hub.credential).toEqual({ identityToken: 'refresh-123' });
    expect((await store.lookup('file.example')).credential).toEqual({ username: 'f', password: 'p' });
    const miss = await store.lookup('nothing.example');
    expect(miss.credential).toBeUndefined();
    expect(miss.searched).toContain(`docker-credential-fake (credsStore in ${path.join(d, 'config.json')})`);
  });

  it('treats a missing or failing helper as a warning, so anonymous pulls still work', async () => {
    const d = await dockerConfig('badhelpers', { credHelpers: { 'gone.example': 'does-not-exist', 'broken.example': 'broken' }, auths: { 'broken.example': { auth: b64('b:p') } } });
    const store = new CredentialStore({ env: envWith({ DOCKER_CONFIG: d }) });
    const gone = await store.lookup('gone.example');
    expect(gone.credential).toBeUndefined();
    expect(gone.warnings.join('\n')).toContain('docker-credential-does-not-exist not found on PATH');
    const broken = await store.lookup('broken.example');
    expect(broken.warnings.join('\n')).toMatch(/docker-credential-broken failed for broken\.example/);
    // the auths entry is still used after the helper failed
    expect(broken.credential).toEqual({ username: 'b', password: 'p' });
  });

  it('decodes identity tokens and normalizes keys like docker', () => {
    expect(decodeAuthEntry({ auth: b64('u:'), identitytoken: 'tok' })).toEqual({ identityToken: 'tok', username: 'u' });
    expect(decodeAuthEntry({})).toBeUndefined();
    expect(normalizeAuthKey('https://Reg.Example:5000/v1/')).toBe('reg.example:5000');
    expect(normalizeAuthKey('http://index.docker.io/v1/')).toBe('docker.io');
  });

  it('reports an unreadable config as a warning, not a crash', async () => {
    const d = await dockerConfig('broken-json', {});
    await writeFile(path.join(d, 'config.json'), '{ not json');
    const store = new CredentialStore({ env: envWith({ DOCKER_CONFIG: d }) });
    const r = await store.lookup('reg.example');
    expect(r.credential).toBeUndefined();
    expect(r.warnings.join('\n')).toMatch(/not valid JSON/);
  });
});
