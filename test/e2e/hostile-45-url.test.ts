import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../support/cli.js';

/**
 * hostile45: a manifest URL's credential was looked for in its query only, by a short list of
 * names: a token in the fragment (OAuth's implicit flow, `#access_token=…`), in a path segment's
 * `;` parameters (`/repo;token=…/x.deb`), Google's `?key=AIza…`, `?apikey=`, `?access_key=`,
 * `?auth=` passed `ferry lock` and would have been written into the lock and the bundle. Each is
 * refused naming the parameter and its place, never its value, and no lock is written; a `key`
 * naming a file or a version, and a `#sha256=` fragment, are no credential.
 */
let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile45-url-'));
});
afterAll(() => rm(work, { recursive: true, force: true }));

const SECRETS = ['FRAGVALUE', 'MATRIXVALUE', 'AIzaSyGOOGLEVALUE0123456789abcdefghij', 'APIKEYVALUE', 'ACCESSKEYVALUE', 'AUTHVALUE', 'AKIAEXAMPLEVALUE', 'SUBVALUE', 'SEMIVALUE', 'SESSVALUE'];
const sha = (c: string) => `"${c.repeat(64)}"`;

const manifest = `apiVersion: ferry/v1alpha1
kind: Manifest
metadata: { name: urls }
files:
  - { name: a, url: "https://files.example/a.tgz#access_token=FRAGVALUE&token_type=bearer", sha256: ${sha('a')} }
  - { name: b, url: "https://files.example/b.tgz#/cb?id_token=FRAGVALUE", sha256: ${sha('b')} }
  - { name: c, url: "https://storage.googleapis.com/storage/v1/b/x/o/c.tgz?alt=media&key=AIzaSyGOOGLEVALUE0123456789abcdefghij", sha256: ${sha('c')} }
  - { name: d, url: "https://api.example/d.tgz?APIKEY=APIKEYVALUE&Access_Key=ACCESSKEYVALUE", sha256: ${sha('d')} }
  - { name: e, url: "https://api.example/e.tgz?auth=AUTHVALUE", sha256: ${sha('e')} }
  - { name: f, url: "https://s3.example/f.tgz?X-Amz-Credential=AKIAEXAMPLEVALUE%2F20250101%2Fus-east-1%2Fs3%2Faws4_request", sha256: ${sha('f')} }
  - { name: g, url: "https://api.example/g.tgz?v=1;Ocp-Apim-Subscription-Key=SUBVALUE", sha256: ${sha('0')} }
  - { name: ok1, url: "https://dl.example/get?key=linux-amd64&version=1.2", sha256: ${sha('1')} }
  - { name: ok2, url: "https://dl.example/get?key=tool-1.2.3-linux-amd64.tar.gz", sha256: ${sha('2')} }
  - { name: ok3, url: "https://dl.example/pkg/ok3.whl#sha256=${'3'.repeat(64)}", sha256: ${sha('3')} }
  - { name: ok4, url: "https://dl.example/a;type=i/ok4.tgz?token_type=bearer", sha256: ${sha('4')} }
apt:
  - { name: vendor, url: "https://apt.example/repo;token=MATRIXVALUE/debian", suites: [stable], components: [main], keys: [vendor.asc] }
charts:
  - { name: app, repo: "https://charts.example/stable;jsessionid=SESSVALUE;Secret=SEMIVALUE", version: 1.0.0 }
`;

describe('ferry lock refuses credentials anywhere in a manifest URL, naming them, never their value', () => {
  for (const json of [false, true]) {
    it(`refused${json ? ' (--json)' : ''}: each URL by its path with the parameter and its place; no value printed, no lock written`, async () => {
      await writeFile(path.join(work, 'm.yaml'), manifest);
      const r = await runFerry(['lock', 'm.yaml', ...(json ? ['--json'] : [])], { cwd: work });
      expect(r.code, r.stderr).not.toBe(0);
      const out = r.stdout + r.stderr;
      const line = (at: string) => out.split('\n').find((l) => l.includes(`${at}:`)) ?? '';
      expect(line('files[0].url')).toMatch(/fragment parameter "access_token" carries a credential/);
      expect(line('files[1].url')).toMatch(/fragment parameter "id_token" carries a credential/);
      expect(line('files[2].url')).toMatch(/query parameter "key" carries a credential/);
      expect(line('files[3].url')).toMatch(/query parameters "APIKEY", "Access_Key" carry a credential/);
      expect(line('files[4].url')).toMatch(/query parameter "auth" carries a credential/);
      expect(line('files[5].url')).toMatch(/query parameter "X-Amz-Credential" carries a credential/);
      expect(line('files[6].url')).toMatch(/query parameter "Ocp-Apim-Subscription-Key" carries a credential/);
      expect(line('apt[0].url')).toMatch(/path \(;\) parameter "token" carries a credential/);
      expect(line('charts[0].repo')).toMatch(/path \(;\) parameters "jsessionid", "Secret" carry a credential/);
      for (const ok of [7, 8, 9, 10]) expect(out).not.toContain(`files[${ok}].`);
      for (const secret of SECRETS) expect(out).not.toContain(secret);
      expect((await readdir(work)).filter((f) => f !== 'm.yaml')).toEqual([]);
    });
  }
});
