import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageChart, startStaticServer, writeRepoIndex, type StaticServer } from '../support/chart-repo.js';
import { runFerry } from '../support/cli.js';

/**
 * hostile57: the credentials files of the machine ferry runs on are read as outside data. Helm's
 * repositories.yaml (HELM_REPOSITORY_CONFIG) that was a FIFO hung `lock` for ever (read whole,
 * before any bound), and one ferry could not parse (an alias bomb, a stray quote) was passed over
 * in silence: the 401 then said "no username in an entry for this URL" of a file never read. A
 * caFile or certFile entry naming a FIFO hung the same way. apt's auth.conf.d/*.conf: a FIFO
 * hung, a file over 1 MiB was passed over. Now each is refused, naming the file, and no error
 * quotes the file's text (it holds passwords). A chart repository behind nginx basic auth.
 */
const USER = 'deployer';
const PASSWORD = 's3cret-Pa55';
/** What a hung run of the old code is stopped after: the new code answers in a second. */
const HUNG_MS = 20_000;
let work: string;
let repo: StaticServer;

const env = (extra: Record<string, string> = {}) => ({
  FERRY_CACHE_DIR: path.join(work, 'cache'),
  FERRY_RETRIES: '0',
  HELM_REPOSITORY_CONFIG: path.join(work, 'no-helm', 'repositories.yaml'),
  FERRY_APT_AUTH_CONF_DIR: path.join(work, 'no-apt'),
  ...extra,
});

async function helmFile(name: string, text: string): Promise<string> {
  const file = path.join(work, name, 'repositories.yaml');
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
  return file;
}

const fifo = (file: string) => execFileSync('mkfifo', [file]);

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-h57-creds-'));
  const src = path.join(work, 'src', 'hello');
  await mkdir(path.join(src, 'templates'), { recursive: true });
  await writeFile(path.join(src, 'Chart.yaml'), stringifyYaml({ apiVersion: 'v2', name: 'hello', version: '1.0.0' }));
  await writeFile(path.join(src, 'templates', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\n');
  const pub = path.join(work, 'public', 'charts');
  await mkdir(pub, { recursive: true });
  await writeRepoIndex(pub, [await packageChart(src, pub)]);
  repo = await startStaticServer(path.join(work, 'public'), { basicAuth: { user: USER, password: PASSWORD } });
  await writeFile(path.join(work, 'chart.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: chart }', 'charts:', `  - { repo: "${repo.url}/charts", name: hello, version: 1.0.0, images: [] }`, ''].join('\n'));
  await writeFile(path.join(work, 'apt.yaml'), ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: apt }', 'apt:', `  - { name: vendor, url: "https://127.0.0.1:1/debian", suites: [stable], components: [main], architectures: [amd64], packages: [app], keys: [vendor.asc] }`, ''].join('\n'));
}, 120_000);

afterAll(async () => {
  await repo?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const lockChart = (extra: Record<string, string>) => runFerry(['lock', 'chart.yaml', '-o', path.join(work, 'out.lock.json')], { cwd: work, env: env(extra), timeoutMs: HUNG_MS });

describe("hostile57: Helm's repositories.yaml as outside data", () => {
  it('a repositories.yaml that is a FIFO is refused, naming it (was a lock hung for ever)', async () => {
    const file = path.join(work, 'fifo-helm', 'repositories.yaml');
    await mkdir(path.dirname(file), { recursive: true });
    fifo(file);
    const r = await lockChart({ HELM_REPOSITORY_CONFIG: file });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}: Helm's repositories.yaml is a FIFO, not read`);
  }, 60_000);

  it('an alias bomb beside the password: refused naming the file, the password in no message (was passed over: "no username")', async () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 8 }, (_v, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`)];
    const file = await helmFile('bomb-helm', [...bomb, 'repositories:', `- name: corp`, `  url: ${repo.url}/charts`, `  username: ${USER}`, `  password: ${PASSWORD}`, ''].join('\n'));
    const r = await lockChart({ HELM_REPOSITORY_CONFIG: file });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}: Helm's repositories.yaml is not YAML ferry reads (an alias it does not expand`);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  }, 60_000);

  it('a password with a stray quote: refused with the parser code and line only, never the text', async () => {
    const file = await helmFile('quote-helm', ['repositories:', '- name: corp', `  url: ${repo.url}/charts`, `  username: ${USER}`, `  password: "${PASSWORD}\\q"`, ''].join('\n'));
    const r = await lockChart({ HELM_REPOSITORY_CONFIG: file });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}: Helm's repositories.yaml is not YAML ferry reads (BAD_DQ_ESCAPE at line 5)`);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  }, 60_000);

  it('a caFile or certFile naming a FIFO is refused, naming the entry (was a lock hung for ever)', async () => {
    const pipe = path.join(work, 'ca.fifo');
    fifo(pipe);
    for (const [entry, field] of [[{ caFile: pipe }, 'caFile'], [{ certFile: pipe, keyFile: pipe }, 'certFile']] as const) {
      const file = await helmFile(`${field}-helm`, stringifyYaml({ repositories: [{ name: 'corp', url: `${repo.url}/charts`, username: USER, password: PASSWORD, ...entry }] }));
      const r = await lockChart({ HELM_REPOSITORY_CONFIG: file });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`${file} (entry "corp"): ${field} ${pipe}: a FIFO, not read, not a PEM file`);
      expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    }
  }, 90_000);

  it('a readable repositories.yaml with the credentials still locks (a control)', async () => {
    const file = await helmFile('good-helm', stringifyYaml({ repositories: [{ name: 'corp', url: `${repo.url}/charts`, username: USER, password: PASSWORD }] }));
    const r = await lockChart({ HELM_REPOSITORY_CONFIG: file });
    expect(r.code, r.stderr).toBe(0);
  }, 60_000);
});

describe("hostile57: apt's auth.conf.d as outside data", () => {
  it('a .conf that is a FIFO is refused, naming it (was a lock hung for ever)', async () => {
    const dir = path.join(work, 'apt-fifo');
    await mkdir(path.join(dir, 'auth.conf.d'), { recursive: true });
    fifo(path.join(dir, 'auth.conf.d', 'vendor.conf'));
    const r = await runFerry(['lock', 'apt.yaml', '-o', path.join(work, 'apt.lock.json')], { cwd: work, env: env({ FERRY_APT_AUTH_CONF_DIR: dir }), timeoutMs: HUNG_MS });
    expect(r.stderr).toContain(`${path.join(dir, 'auth.conf.d', 'vendor.conf')}: an apt login file (auth.conf) is a FIFO, not read`);
  }, 60_000);

  it('a .conf of 2 GiB (sparse) is refused unread, naming it (was read whole, then passed over)', async () => {
    const dir = path.join(work, 'apt-huge');
    await mkdir(path.join(dir, 'auth.conf.d'), { recursive: true });
    await writeFile(path.join(dir, 'auth.conf'), `machine 127.0.0.1 login ${USER} password ${PASSWORD}\n`);
    await writeFile(path.join(dir, 'auth.conf.d', 'big.conf'), '');
    await truncate(path.join(dir, 'auth.conf.d', 'big.conf'), 2 * 1024 * 1024 * 1024);
    const r = await runFerry(['lock', 'apt.yaml', '-o', path.join(work, 'apt.lock.json')], { cwd: work, env: env({ FERRY_APT_AUTH_CONF_DIR: dir }), timeoutMs: HUNG_MS });
    expect(r.stderr).toContain(`${path.join(dir, 'auth.conf.d', 'big.conf')}: an apt login file (auth.conf) is 2147483648 bytes, more than the 1048576 ferry reads`);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  }, 60_000);
});
