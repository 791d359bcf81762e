import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredentialStore } from '../../src/oci/credentials.js';

/**
 * A docker config names credential helpers (`credHelpers`, `credsStore`) that ferry runs as
 * `docker-credential-<name>`. The config and the helper's answer are outside data: a name must
 * not become a path to run, and an answer that never ends or is not the expected JSON is a
 * warning naming the helper (anonymous pulls still work), with memory bounded.
 */
describe('credential helpers named by a docker config, and what they answer', () => {
  let dir: string;
  let bin: string;
  let home: string;
  let cwd: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-h8-creds-'));
    bin = path.join(dir, 'bin');
    home = path.join(dir, 'home');
    cwd = path.join(dir, 'cwd');
    await mkdir(bin, { recursive: true });
    await mkdir(home, { recursive: true });
    // A program a crafted name could reach by path: relative to the working directory
    // (`docker-credential-x/../../evil`) it is cwd/evil once cwd/docker-credential-x exists.
    await mkdir(path.join(cwd, 'docker-credential-x'), { recursive: true });
    const evil = `#!/bin/sh\ntouch "${dir}/ran"\necho '{"Username":"u","Secret":"s"}'\n`;
    await writeFile(path.join(dir, 'evil'), evil);
    await chmod(path.join(dir, 'evil'), 0o755);
    // A helper that writes without end, and helpers answering JSON of the wrong shape.
    await writeFile(path.join(bin, 'docker-credential-endless'), '#!/bin/sh\nread -r s\nexec yes aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n');
    await writeFile(path.join(bin, 'docker-credential-null'), '#!/bin/sh\nread -r s\necho null\n');
    await writeFile(path.join(bin, 'docker-credential-object'), '#!/bin/sh\nread -r s\necho \'{"Username":"u","Secret":{"x":1}}\'\n');
    for (const f of ['endless', 'null', 'object']) await chmod(path.join(bin, `docker-credential-${f}`), 0o755);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function lookupWith(cfg: unknown, name: string) {
    const d = path.join(dir, `cfg-${name}`);
    await mkdir(d, { recursive: true });
    await writeFile(path.join(d, 'config.json'), JSON.stringify(cfg));
    const store = new CredentialStore({ env: { HOME: home, DOCKER_CONFIG: d, PATH: `${bin}:${cwd}:/usr/bin:/bin` }, helperTimeoutMs: 20_000 });
    const prev = process.cwd();
    process.chdir(cwd);
    try {
      return await store.lookup('reg.example');
    } finally {
      process.chdir(prev);
    }
  }

  it('a helper name with a path in it is not run (neither credHelpers nor credsStore); the warning says why', async () => {
    for (const [i, cfg] of [{ credHelpers: { 'reg.example': 'x/../../evil' } }, { credsStore: 'x/../../evil' }, { credsStore: '../evil' }].entries()) {
      const got = await lookupWith(cfg, `path${i}`);
      expect(got.credential).toBeUndefined();
      expect(got.warnings.join('\n')).toMatch(/credential helper name ".*evil" \(configured for reg\.example\) is not a helper name; not running it/);
    }
    expect(await readdir(dir)).not.toContain('ran');
  });

  it('a helper that writes without end is stopped at 1 MiB, named in a warning', async () => {
    const got = await lookupWith({ credsStore: 'endless' }, 'endless');
    expect(got.credential).toBeUndefined();
    expect(got.warnings).toEqual([expect.stringMatching(/credential helper docker-credential-endless wrote more than 1048576 bytes for reg\.example; stopped it/)]);
  });

  it('a helper answering JSON of another shape (null, a Secret that is an object) is a warning, not a crash', async () => {
    for (const name of ['null', 'object']) {
      const got = await lookupWith({ credsStore: name }, name);
      expect(got.credential).toBeUndefined();
      expect(got.warnings).toEqual([expect.stringMatching(new RegExp(`docker-credential-${name} answered JSON that is not \\{"Username"`))]);
    }
  });
});
