import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { FERRY, ROOT, mustRun, runFerry } from '../support/cli.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';
import { OCI_MANIFEST, pushBlob, putManifest } from '../support/oci-push.js';
import { startRegistry } from '../support/registry.js';

/**
 * What the README tells a user ferry does, checked against the built CLI: every command line it
 * shows (code blocks, inline `ferry …`, the Commands table) is accepted by that command's
 * --help, every value listed after a flag is one the help names, the defaults it states, the
 * keys of its example manifest and mirror target, its exit-code table, and the file names and
 * bundle members of a small files-only job run as the README describes it.
 */

const README = await readFile(path.join(ROOT, 'README.md'), 'utf8');
const SUBCOMMANDS: Record<string, string[]> = {
  bundle: ['create', 'verify', 'split', 'push', 'pull'],
  charts: ['images'],
  rewrite: ['values', 'chart', 'manifests', 'catalogue', 'apt-sources'],
  convert: ['zarf', 'hauler', 'oc-mirror', 'helmfile'],
};
const TOP = ['lock', 'bundle', 'import', 'map', 'charts', 'serve', 'rewrite', 'mirror-config', 'inventory', 'firewall', 'audit', 'probe', 'report', 'sbom', 'convert', 'schema'];

const helpCache = new Map<string, Promise<string>>();
function help(p: string[]): Promise<string> {
  const key = p.join(' ');
  if (!helpCache.has(key)) {
    helpCache.set(key, runFerry([...p, '--help']).then((r) => {
      if (r.code !== 0) throw new Error(`ferry ${key} --help exited ${r.code}: ${r.stderr}`);
      return r.stdout;
    }));
  }
  return helpCache.get(key)!;
}

interface ReadmeCommand {
  text: string;
  pages: string[][];
  /** Flags with the alternatives written after them (`--format a|b|c`), if any. */
  flags: Array<{ flag: string; values: string[] }>;
  /** Positional alternatives right after the command (`schema manifest|target|lock`). */
  positional: string[];
}

/** Every `ferry <command> …` the README writes, in code blocks, inline code and the table. */
function readmeCommands(): ReadmeCommand[] {
  const out: ReadmeCommand[] = [];
  for (const m of README.matchAll(/(?:\.\/)?\bferry ([a-z][^`\n#]*)/g)) {
    const text = m[1].replace(/\\\|/g, '|');
    const words = text.split(/\s+/).filter(Boolean);
    const cmd = words[0];
    if (!TOP.includes(cmd)) continue;
    let pages: string[][] = [[cmd]];
    let rest = words.slice(1);
    if (SUBCOMMANDS[cmd]) {
      const subs = (rest[0] ?? '').split('|');
      if (!subs.every((s) => SUBCOMMANDS[cmd].includes(s))) continue; // prose ("ferry bundle as …")
      pages = subs.map((s) => [cmd, s]);
      rest = rest.slice(1);
    }
    const positional = /^[a-z0-9-]+(\|[a-z0-9-]+)+$/.test(rest[0] ?? '') ? rest[0].split('|') : [];
    const flags: ReadmeCommand['flags'] = [];
    for (let i = 0; i < rest.length; i++) {
      const f = /^[[(]?(--?[a-zA-Z][a-zA-Z-]*)/.exec(rest[i]);
      if (!f) continue;
      const next = rest[i + 1]?.replace(/[\])]+$/, '') ?? '';
      const values = /^[a-z0-9-]+([|,][a-z0-9-]+)+$/.test(next) ? next.split(/[|,]/) : [];
      flags.push({ flag: f[1], values });
    }
    out.push({ text: m[0], pages, flags, positional });
  }
  return out;
}

const flagIn = (helpText: string, flag: string) => new RegExp(`(^|[\\s,])${flag.replace(/-/g, '\\-')}(?![a-zA-Z-])`, 'm').test(helpText);

describe('every command line the README shows is one ferry accepts', () => {
  it('each flag is in that command’s --help, and each listed value in its description', async () => {
    const commands = readmeCommands();
    expect(commands.length).toBeGreaterThan(60);
    const problems: string[] = [];
    for (const c of commands) {
      for (const page of c.pages) {
        const h = await help(page);
        for (const { flag, values } of c.flags) {
          if (flag === '--debug') continue; // a global option: `ferry --help`
          if (!flagIn(h, flag)) problems.push(`ferry ${page.join(' ')}: no ${flag} (README: ${c.text})`);
          for (const v of values) if (!new RegExp(`\\b${v}\\b`).test(h)) problems.push(`ferry ${page.join(' ')} ${flag}: no value ${v} (README: ${c.text})`);
        }
        for (const v of c.positional) if (!new RegExp(`\\b${v}\\b`).test(h)) problems.push(`ferry ${page.join(' ')}: no ${v} (README: ${c.text})`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('the Commands table names every command ferry has', async () => {
    // The lists above are every command and subcommand the CLI's own help lists (a new one is
    // caught here, not silently left out of every check of this file).
    const commandsOf = (h: string) => [...(h.split(/^Commands:$/m)[1] ?? '').split(/^Examples:$/m)[0].matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]).filter((c) => c !== 'help');
    expect(commandsOf(await help([])).sort()).toEqual([...TOP].sort());
    for (const [cmd, subs] of Object.entries(SUBCOMMANDS)) expect(commandsOf(await help([cmd])).sort(), cmd).toEqual([...subs].sort());
    const table = README.split(/^## Commands$/m)[1].split(/^\*\*|^Options shared/m)[0].replace(/\\\|/g, '|');
    const missing: string[] = [];
    for (const cmd of TOP) {
      for (const sub of SUBCOMMANDS[cmd] ?? ['']) {
        const re = sub ? new RegExp(`\`ferry ${cmd} ([a-z-]+\\|)*${sub}\\b`) : new RegExp(`\`ferry ([a-z-]+\\|)*${cmd}\\b`);
        if (!re.test(table)) missing.push(`${cmd} ${sub}`.trim());
      }
    }
    expect(missing).toEqual([]);
  });

  it('each option a command’s --help lists is named where the README describes that command', async () => {
    // The other way round from the first check: a flag a feature adds (charts images --chart and
    // --version, rewrite manifests --cache-dir) is written within 400 characters of a mention of
    // its command (`ferry lock`, `rewrite values|chart`, "Every `rewrite` command") in the same
    // paragraph, list item or table row, or in the options the commands share; `-q` counts for
    // `--quiet`. (A whole paragraph is too loose: audit's list item names `rewrite manifests`.)
    const text = README.replace(/\\\|/g, '|');
    const blocks = text.split(/\n[ \t]*\n|\n(?=\|)|\n(?=\s*- )/);
    const shared = blocks.filter((b) => b.startsWith('Options shared by'));
    expect(shared.length).toBe(1);
    const esc = (s: string) => s.replace(/[-|]/g, (c) => `\\${c}`);
    const problems: string[] = [];
    for (const cmd of TOP) {
      for (const sub of SUBCOMMANDS[cmd] ?? ['']) {
        const page = sub ? [cmd, sub] : [cmd];
        const names = sub ? new RegExp(`\\b${cmd} ([a-z-]+\\|)*${esc(sub)}\\b|Every \`${cmd}\` command`, 'g') : new RegExp(`(ferry |\`)${esc(cmd)}\\b`, 'g');
        const about = [...shared];
        for (const b of blocks) for (const m of b.matchAll(names)) about.push(b.slice(Math.max(0, m.index - 400), m.index + 400));
        for (const [, short, long] of (await help(page)).matchAll(/^ {2}(?:(-[a-zA-Z]), )?(--[a-z-]+)/gm)) {
          if (long === '--help') continue;
          const written = new RegExp(`(^|[^a-zA-Z-])(${esc(long)}${short ? `|${short}` : ''})(?![a-zA-Z-])`);
          if (!about.some((b) => written.test(b))) problems.push(`ferry ${page.join(' ')} ${long}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('the format lists of firewall, mirror-config and schema are every format the help offers', async () => {
    const helpValues = (h: string, marker: RegExp) => (marker.exec(h)?.[1] ?? '').split('|').map((s) => s.trim()).filter(Boolean);
    const firewall = helpValues((await help(['firewall'])).replace(/\n\s+/g, ' '), /--format <format>\s+([a-z0-9-]+(?: \| [a-z0-9-]+)+)/);
    const mirror = helpValues((await help(['mirror-config'])).replace(/\n\s+/g, ' '), /format\s+([a-z0-9| -]+?) Options/);
    const schema = helpValues(await help(['schema']), /which\s+([a-z| ]+)\n/);
    expect(firewall.length).toBeGreaterThan(5);
    expect(mirror.length).toBeGreaterThan(5);
    expect(schema).toEqual(['manifest', 'target', 'lock']);
    const line = (re: RegExp) => re.exec(README)?.[1].split('|') ?? [];
    expect(line(/ferry firewall \S+ --format ([a-z0-9|-]+)/)).toEqual(firewall);
    expect(line(/ferry mirror-config ([a-z0-9|-]+)/)).toEqual(mirror);
    for (const which of schema) {
      const r = await runFerry(['schema', which]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).$schema).toMatch(/json-schema/);
    }
  });

  it('the options the README says the network commands share are on each of them', async () => {
    const network = [['lock'], ['bundle', 'create'], ['bundle', 'verify'], ['bundle', 'push'], ['bundle', 'pull'], ['import'], ['serve'], ['charts', 'images']];
    const problems: string[] = [];
    for (const p of network) {
      const h = await help(p);
      for (const flag of ['--ca-file', '--cert-dir', '--insecure-registry', '--json', '-q']) if (!flagIn(h, flag)) problems.push(`${p.join(' ')} ${flag}`);
      const noConcurrency = ['bundle verify', 'serve'].includes(p.join(' '));
      if (flagIn(h, '--concurrency') === noConcurrency) problems.push(`${p.join(' ')} --concurrency`);
      if (!noConcurrency && !/--concurrency <n>\s+parallel transfers \(default: "8"\)/.test(h)) problems.push(`${p.join(' ')}: --concurrency default is not 8`);
    }
    // "The commands that read a bundle from a registry (map, rewrite, mirror-config, audit, report, sbom) take --ca-file, --cert-dir and --insecure-registry too"
    for (const p of [['map'], ...SUBCOMMANDS.rewrite.map((s) => ['rewrite', s]), ['mirror-config'], ['audit'], ['report'], ['sbom']]) {
      const h = await help(p);
      for (const flag of ['--ca-file', '--cert-dir', '--insecure-registry']) if (!flagIn(h, flag)) problems.push(`${p.join(' ')} ${flag}`);
    }
    expect(problems).toEqual([]);
    // "Every command that reports takes --json (sbom and schema print JSON anyway)"
    for (const p of [['map'], ['rewrite', 'values'], ['rewrite', 'chart'], ['rewrite', 'manifests'], ['rewrite', 'catalogue'], ['rewrite', 'apt-sources'], ['mirror-config'], ['inventory'], ['firewall'], ['audit'], ['probe'], ['report']]) {
      expect(flagIn(await help(p), '--json'), p.join(' ')).toBe(true);
    }
    // The rewrite commands and mirror-config: -t, --lock/--bundle, --dry-run; --allow-unmapped on rewrite only.
    for (const sub of SUBCOMMANDS.rewrite) {
      const h = await help(['rewrite', sub]);
      for (const flag of ['-t', '--lock', '--bundle', '--dry-run', '--allow-unmapped']) expect(flagIn(h, flag), `rewrite ${sub} ${flag}`).toBe(true);
    }
    const mc = await help(['mirror-config']);
    for (const flag of ['-t', '--lock', '--bundle', '--dry-run', '--json']) expect(flagIn(mc, flag), `mirror-config ${flag}`).toBe(true);
  });

  it('the defaults the README states: serve --max-connections 256 and --listen 127.0.0.1:5000, --kube-version v1.29.0', async () => {
    const serve = (await help(['serve'])).replace(/\n\s+/g, ' ');
    expect(serve).toMatch(/--max-connections <n> .*\(default 256\)/);
    expect(serve).toMatch(/--listen <host:port> .*\(default: "127\.0\.0\.1:5000"\)/);
    expect(README).toContain('`--max-connections` (default 256)');
    expect(README).toContain('`--listen` default `127.0.0.1:5000`');
    for (const p of [['charts', 'images'], ['rewrite', 'chart']]) expect((await help(p)).replace(/\n\s+/g, ' ')).toContain('(default v1.29.0)');
    expect(README).toContain('The default Kubernetes version is v1.29.0');
  });

  it('the lock file named in help examples is <metadata.name>.lock.json, as the README says', async () => {
    for (const p of [[], ['lock'], ['map']]) {
      const examples = (await help(p)).split(/^Examples:$/m)[1];
      expect(examples).not.toMatch(/manifest\.lock\.json (beside|$)/m);
      expect(examples).toContain('<metadata.name>.lock.json');
    }
  });
});

describe('the README’s example manifest and mirror target use only keys ferry’s schemas have', () => {
  type Schema = Record<string, unknown> & { $ref?: string; properties?: Record<string, Schema>; items?: Schema; additionalProperties?: Schema | boolean; anyOf?: Schema[]; oneOf?: Schema[]; allOf?: Schema[] };
  function deref(root: Schema, s: Schema | undefined): Schema | undefined {
    while (s?.$ref) s = s.$ref.replace(/^#\//, '').split('/').reduce<unknown>((o, k) => (o as Record<string, unknown>)?.[k], root) as Schema;
    return s;
  }
  function objects(root: Schema, s: Schema | undefined, out: Schema[] = []): Schema[] {
    s = deref(root, s);
    if (!s) return out;
    if (s.properties || typeof s.additionalProperties === 'object') out.push(s);
    for (const k of ['anyOf', 'oneOf', 'allOf'] as const) for (const x of s[k] ?? []) objects(root, x, out);
    if (s.items) objects(root, s.items, out);
    return out;
  }
  function unknownKeys(root: Schema, s: Schema, v: unknown, at: string, bad: string[]): void {
    if (Array.isArray(v)) return v.forEach((x, i) => unknownKeys(root, s, x, `${at}[${i}]`, bad));
    if (!v || typeof v !== 'object') return;
    const candidates = objects(root, s);
    for (const [k, x] of Object.entries(v)) {
      const sub = candidates.map((c) => c.properties?.[k] ?? (typeof c.additionalProperties === 'object' ? c.additionalProperties : undefined)).find(Boolean);
      if (!sub) bad.push(`${at}.${k}`);
      else unknownKeys(root, sub, x, `${at}.${k}`, bad);
    }
  }

  it('every key of every manifest / MirrorTarget YAML block', async () => {
    const schemas: Record<string, Schema> = {};
    for (const which of ['manifest', 'target']) schemas[which] = JSON.parse((await runFerry(['schema', which])).stdout) as Schema;
    let checked = 0;
    const bad: string[] = [];
    for (const m of README.matchAll(/```yaml\n([\s\S]*?)```/g)) {
      const doc = YAML.parse(m[1].replace(/\[\.\.\.\]/g, '[]')) as Record<string, unknown>;
      if (!doc || doc.jobs || doc.apiVersion === 'batch/v1') continue; // the CI and Kubernetes examples
      const which = doc.kind === 'MirrorTarget' ? 'target' : 'manifest';
      unknownKeys(schemas[which], schemas[which], doc, which, bad);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(7);
    expect(bad).toEqual([]);
    // Keys the README names in prose.
    const text = JSON.stringify(schemas.manifest);
    for (const key of ['extras', 'maxSize', 'size', 'allowExpiredLeaf', 'rekorPublicKey', 'sha512']) expect(text, key).toContain(`"${key}"`);
    expect(JSON.stringify(schemas.target)).toContain('"insecure"');
  });

  it('the example MirrorTarget maps the README’s own images (its maxPathDepth holds prefix/host/path)', async () => {
    const block = [...README.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]).find((t) => /^kind: MirrorTarget$/m.test(t));
    expect(block).toBeDefined();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-readme-target-'));
    try {
      await writeFile(path.join(dir, 'site.yaml'), block!);
      await writeFile(path.join(dir, 'site-ca.pem'), '');
      await mkdir(path.join(dir, 'site-certs'));
      const digest = (c: string) => `sha256:${c.repeat(64)}`;
      const image = (ref: string, c: string) => ({
        source: ref, ref, digest: digest(c), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 400, manifests: [],
        blobs: [{ mediaType: 'application/vnd.oci.image.config.v1+json', digest: digest('d'), size: 300 }],
      });
      const lock = {
        apiVersion: 'ferry/v1alpha1', kind: 'Lock', manifest: { name: 'app', digest: digest('e') },
        images: [image('docker.io/library/alpine:3.20', 'a'), image('registry.example.com:5000/team/api:1.4.2', 'b')], charts: [], files: [], apt: [],
      };
      await writeFile(path.join(dir, 'app.lock.json'), JSON.stringify(lock));
      const r = await runFerry(['map', 'app.lock.json', '-t', 'site.yaml'], { cwd: dir });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('harbor.site.internal/mirror/docker.io/library/alpine:3.20');
      // "`registry.example.com:5000` becomes `registry.example.com-5000` everywhere"
      expect(r.stdout).toContain('harbor.site.internal/mirror/registry.example.com-5000/team/api:1.4.2');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

let work: string;
let server: StaticServer;
let fileBytes: Buffer;
const MANIFEST = ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: claims }', 'files:', '  - name: tool', '    url: <url>/dl/tool.bin', ''].join('\n');

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-readme-'));
  await mkdir(path.join(work, 'srv', 'dl'), { recursive: true });
  fileBytes = randomBytes(3000);
  await writeFile(path.join(work, 'srv', 'dl', 'tool.bin'), fileBytes);
  server = await startStaticServer(path.join(work, 'srv'));
  await writeFile(path.join(work, 'deploy-manifest.yaml'), MANIFEST.replace('<url>', server.url));
  await writeFile(path.join(work, 'site.yaml'), 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nfiles: { dir: ./files, baseUrl: "https://files.site.internal" }\n');
});

afterAll(async () => {
  await server?.close();
  if (work && !process.env.FERRY_TEST_KEEP) await rm(work, { recursive: true, force: true });
});

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

describe('a files-only job, as the README describes it', () => {
  it('lock writes <metadata.name>.lock.json beside the manifest, and map finds it there', async () => {
    const r = await runFerry(['lock', 'deploy-manifest.yaml', '-q'], { cwd: work, env: { FERRY_CACHE_DIR: path.join(work, 'cache-a') } });
    expect(r.code, r.stderr).toBe(0);
    await stat(path.join(work, 'claims.lock.json'));
    await expect(stat(path.join(work, 'deploy-manifest.lock.json'))).rejects.toThrow();
    const map = await runFerry(['map', 'deploy-manifest.yaml', '-t', 'site.yaml', '--json'], { cwd: work });
    expect(map.code, map.stderr).toBe(0);
    expect(map.stdout).toContain('https://files.site.internal/127.0.0.1-');
  });

  it('the download cache is $FERRY_CACHE_DIR/store, else $XDG_CACHE_HOME/ferry/store', async () => {
    const digest = createHash('sha256').update(fileBytes).digest('hex');
    expect(await filesUnder(path.join(work, 'cache-a', 'store'))).toContain(`blobs/sha256/${digest}`);
    const env = { FERRY_CACHE_DIR: undefined, XDG_CACHE_HOME: path.join(work, 'xdg') };
    const r = await runFerry(['bundle', 'create', 'deploy-manifest.yaml', '-o', 'app.ferry.tar', '-q'], { cwd: work, env });
    expect(r.code, r.stderr).toBe(0);
    expect(await filesUnder(path.join(work, 'xdg', 'ferry', 'store'))).toContain(`blobs/sha256/${digest}`);
    // lock takes --cache-dir as bundle create does: the store itself, not a parent of it.
    const own = path.join(work, 'lock-cache');
    const l = await runFerry(['lock', 'deploy-manifest.yaml', '-q', '-o', path.join(work, 'other.lock.json'), '--cache-dir', own], { cwd: work, env: { FERRY_CACHE_DIR: undefined, XDG_CACHE_HOME: path.join(work, 'xdg2') } });
    expect(l.code, l.stderr).toBe(0);
    expect(await filesUnder(own)).toContain(`blobs/sha256/${digest}`);
  });

  it('the bundle is an OCI layout plus ferry/, and ferry/checksums.sha256 is sha256sum -c over every other file', async () => {
    const tar = path.join(work, 'app.ferry.tar');
    const names = (await mustRun('tar', ['-tf', tar])).stdout.split('\n').filter((n) => n && !n.endsWith('/'));
    const x = path.join(work, 'x');
    await mkdir(x);
    await mustRun('tar', ['-xf', tar, '-C', x]);
    expect(names.filter((n) => !n.startsWith('blobs/sha256/')).sort()).toEqual(['ferry/bundle.json', 'ferry/checksums.sha256', 'ferry/lock.json', 'ferry/manifest.yaml', 'ferry/sbom.cdx.json', 'index.json', 'oci-layout']);
    const listed = (await readFile(path.join(x, 'ferry/checksums.sha256'), 'utf8')).trim().split('\n').map((l) => l.replace(/^[0-9a-f]{64} [ *]/, '')).sort();
    expect(listed).toEqual(names.filter((n) => n !== 'ferry/checksums.sha256').sort());
    const check = await mustRun('sha256sum', ['--strict', '-c', 'ferry/checksums.sha256'], { cwd: x });
    expect(check.stdout.trim().split('\n')).toHaveLength(listed.length);
    const index = JSON.parse(await readFile(path.join(x, 'index.json'), 'utf8')) as { manifests: Array<{ annotations?: Record<string, string> }> };
    // "the ref name is … a file's or APT repository's `name` (its URL is in `io.ferry.source`)"
    expect(index.manifests[0].annotations?.['org.opencontainers.image.ref.name']).toBe('tool');
    expect(index.manifests[0].annotations?.['io.ferry.source']).toBe(`${server.url}/dl/tool.bin`);
    expect(index.manifests[0].annotations?.['io.ferry.kind']).toBe('file');
    expect(JSON.parse(await readFile(path.join(x, 'ferry/bundle.json'), 'utf8')).formatVersion).toBe(1);
  });

  it('the same inputs give a byte-identical tar', async () => {
    const r = await runFerry(['bundle', 'create', 'deploy-manifest.yaml', '-o', 'again.ferry.tar', '--frozen', '-q'], { cwd: work, env: { FERRY_CACHE_DIR: path.join(work, 'cache-b') } });
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(path.join(work, 'again.ferry.tar'))).toEqual(await readFile(path.join(work, 'app.ferry.tar')));
  });

  it('import writes files.dir/<upstream-host>/<path> with <file>.sha256 beside it, which sha256sum -c accepts', async () => {
    const r = await runFerry(['import', 'app.ferry.tar', '-t', 'site.yaml', '-q'], { cwd: work });
    expect(r.code, r.stderr).toBe(0);
    const host = new URL(server.url).host.replace(':', '-');
    expect(await filesUnder(path.join(work, 'files'))).toEqual([`${host}/dl/tool.bin`, `${host}/dl/tool.bin.sha256`]);
    await mustRun('sha256sum', ['--strict', '-c', 'tool.bin.sha256'], { cwd: path.join(work, 'files', host, 'dl') });
  });
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

describe('the exit-code table', () => {
  it('2: a validation error, every problem with its path', async () => {
    await writeFile(path.join(work, 'bad.yaml'), 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: bad }\nimages:\n  - ref: alpine:3.20\n  - ref: registry.example.com/Team/API:1\n');
    const r = await runFerry(['lock', 'bad.yaml'], { cwd: work });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('images[1].ref: not a valid image reference: repository name must be lowercase');
  });

  it('1: an out-of-date (here: missing) lock with --frozen', async () => {
    await writeFile(path.join(work, 'nolock.yaml'), MANIFEST.replace('claims', 'nolock').replace('<url>', server.url));
    const r = await runFerry(['bundle', 'create', 'nolock.yaml', '-o', 'nolock.tar', '--frozen', '-q'], { cwd: work });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('--frozen');
  });

  it('3: a damaged bundle', async () => {
    const bytes = await readFile(path.join(work, 'app.ferry.tar'));
    const at = bytes.indexOf(fileBytes.subarray(0, 64));
    expect(at).toBeGreaterThan(0);
    bytes[at + 100] ^= 0xff;
    await writeFile(path.join(work, 'damaged.ferry.tar'), bytes);
    const r = await runFerry(['bundle', 'verify', 'damaged.ferry.tar'], { cwd: work });
    expect(r.code, r.stderr).toBe(3);
    // "A problem names the artifact and the blob"
    expect(r.stderr).toMatch(/tool layer sha256:[0-9a-f]{64}: digest mismatch/);
    // `serve --verify` refuses the same bundle, exit 3, counting its problems as verify does.
    const s = await runFerry(['serve', 'damaged.ferry.tar', '--verify', '--listen', '127.0.0.1:0'], { cwd: work, timeoutMs: 60_000 });
    expect(s.code, s.stderr).toBe(3);
    expect(s.stderr).toContain('verification failed (1 problem); not serving it');
  });

  it('4: the network (a registry that refuses the connection)', async () => {
    const port = await closedPort();
    await writeFile(path.join(work, 'closed.yaml'), `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: closed }\nimages:\n  - ref: 127.0.0.1:${port}/team/api:1\n`);
    const r = await runFerry(['lock', 'closed.yaml', '-q'], { cwd: work, env: { FERRY_RETRIES: '0', FERRY_CACHE_DIR: path.join(work, 'cache-c') } });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain('connection refused');
  });

  it('141: the reader of the output went away (ferry … | head), quietly', async () => {
    // 130 KB of JSON: more than a pipe holds, so a write after head left fails.
    const script = `"$0" "$1" inventory manifests/metal-stack.yaml --format json 2>"$2" | head -c 1 >/dev/null; echo "\${PIPESTATUS[0]}"`;
    const errFile = path.join(work, 'pipe.err');
    const r = await mustRun('bash', ['-c', script, process.execPath, FERRY, errFile], { cwd: ROOT });
    expect(r.stdout.trim()).toBe('141');
    expect(await readFile(errFile, 'utf8')).toBe('');
  });
});

describe('Supply chain: extras are on by default', () => {
  it('an unsigned image a verify rule covers is refused at lock, without claiming extras were turned off', async () => {
    const reg = await startRegistry({ mode: 'http' });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-readme-sig-'));
    try {
      const layer = await pushBlob(reg, 'team/app', Buffer.from('not really a layer'));
      const config = await pushBlob(reg, 'team/app', Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } })));
      const manifest = Buffer.from(JSON.stringify({
        schemaVersion: 2, mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
      }));
      const digest = await putManifest(reg, 'team/app', '1', manifest, OCI_MANIFEST);
      await mustRun('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path.join(dir, 'cosign.key')]);
      await mustRun('openssl', ['pkey', '-in', path.join(dir, 'cosign.key'), '-pubout', '-out', path.join(dir, 'cosign.pub')]);
      await writeFile(path.join(dir, 'app.yaml'), `apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: app }\nverify:\n  - images: ${reg.host}/team/\n    keys: [cosign.pub]\nimages:\n  - ref: ${reg.host}/team/app:1\n`);
      const r = await runFerry(['lock', 'app.yaml', '-q'], { cwd: dir, env: { FERRY_CACHE_DIR: path.join(dir, 'cache') } });
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain(`${reg.host}/team/app:1: no cosign signature of ${digest} is carried`);
      expect(r.stderr).not.toContain('extras are off');
      await expect(stat(path.join(dir, 'app.lock.json'))).rejects.toThrow();
    } finally {
      await reg.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** The README's "In CI", "Shipping to customers", files `auth:` and serve-on-the-edge claims, run as written. */
describe('today’s README claims, run as a user would', () => {
  let dir: string;
  const env = () => ({ FERRY_CACHE_DIR: path.join(dir, 'cache') });
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-readme2-'));
    await writeFile(path.join(dir, 'app.yaml'), MANIFEST.replace('<url>', server.url).replace('name: claims', 'name: app'));
    await writeFile(path.join(dir, 'site.yaml'), 'apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nfiles: { dir: ./files, baseUrl: "https://files.site.internal" }\n');
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('CI: lock --check exits 1 naming `<lock>: out of date: <why>` (and --json answers either way), 0 once locked; it writes nothing; a failure with --json prints nothing on stdout', async () => {
    const lockFile = path.join(dir, 'app.lock.json');
    const stale = await runFerry(['lock', 'app.yaml', '--check'], { cwd: dir, env: env() });
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain(`${lockFile}: out of date: no lock file`);
    const staleJson = await runFerry(['lock', 'app.yaml', '--check', '--json'], { cwd: dir, env: env() });
    expect(staleJson.code).toBe(1);
    expect(JSON.parse(staleJson.stdout)).toEqual({ lockFile, upToDate: false, reason: 'no lock file' });
    await expect(stat(lockFile)).rejects.toThrow();
    // "A failure prints `error: …` and `hint: …` on stderr and nothing on stdout (with `--json` too)"
    const frozen = await runFerry(['bundle', 'create', 'app.yaml', '--frozen', '-o', 'app.ferry.tar', '--json'], { cwd: dir, env: env() });
    expect(frozen.code).toBe(1);
    expect(frozen.stdout).toBe('');
    expect(frozen.stderr).toMatch(/^error: .*\nhint: /m);
    const locked = await runFerry(['lock', 'app.yaml', '--json'], { cwd: dir, env: env() });
    expect(locked.code, locked.stderr).toBe(0);
    expect(JSON.parse(locked.stdout).changed).toBe(true);
    const ok = await runFerry(['lock', 'app.yaml', '--check', '--json'], { cwd: dir, env: env() });
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({ lockFile, upToDate: true });
    // "A lock is rewritten only when its bytes change": a re-lock says changed: false.
    const again = await runFerry(['lock', 'app.yaml', '--json'], { cwd: dir, env: env() });
    expect(JSON.parse(again.stdout).changed).toBe(false);
  });

  it('CI: off a TTY there are no bars, colour or carriage returns', async () => {
    const r = await runFerry(['bundle', 'create', 'app.yaml', '--frozen', '-o', 'plain.ferry.tar'], { cwd: dir, env: { ...env(), NO_COLOR: undefined } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr + r.stdout).not.toMatch(/[\r\x1b]/);
  });

  it('shipping: re-signing changes only ferry/checksums.sha256.sig; a refusal names the key’s fingerprint as openssl prints it, or says the bundle is not signed', async () => {
    await mustRun('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'bundle.key'], { cwd: dir });
    await mustRun('openssl', ['pkey', '-in', 'bundle.key', '-pubout', '-out', 'vendor.pub'], { cwd: dir });
    await mustRun('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'rotated.key'], { cwd: dir });
    await mustRun('openssl', ['pkey', '-in', 'rotated.key', '-pubout', '-out', 'rotated.pub'], { cwd: dir });
    for (const out of ['s1.ferry.tar', 's2.ferry.tar']) {
      const r = await runFerry(['bundle', 'create', 'app.yaml', '--frozen', '-o', out, '--sign-key', 'bundle.key', '-q'], { cwd: dir, env: env() });
      expect(r.code, r.stderr).toBe(0);
    }
    const members = async (tar: string) => {
      const x = path.join(dir, `x-${tar}`);
      await mkdir(x);
      await mustRun('tar', ['-xf', tar, '-C', x], { cwd: dir });
      const out = new Map<string, Buffer>();
      for (const f of await filesUnder(x)) out.set(f, await readFile(path.join(x, f)));
      return out;
    };
    const [a, b] = [await members('s1.ferry.tar'), await members('s2.ferry.tar')];
    expect([...a.keys()]).toEqual([...b.keys()]);
    const differing = [...a.keys()].filter((k) => !a.get(k)!.equals(b.get(k)!));
    expect(differing).toEqual(['ferry/checksums.sha256.sig']);

    const ok = await runFerry(['bundle', 'verify', 's1.ferry.tar', '--key', 'vendor.pub'], { cwd: dir });
    expect(ok.code, ok.stderr).toBe(0);
    const fingerprint = (await mustRun('sh', ['-c', 'openssl pkey -pubin -in rotated.pub -outform DER | sha256sum'], { cwd: dir })).stdout.split(' ')[0];
    const wrong = await runFerry(['bundle', 'verify', 's1.ferry.tar', '--key', 'rotated.pub'], { cwd: dir });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(/does not verify with this key .*; key \S*rotated\.pub \(fingerprint sha256:([0-9a-f]{64})\)/);
    expect(wrong.stderr).toContain(`(fingerprint sha256:${fingerprint})`);
    const unsigned = await runFerry(['bundle', 'verify', 'plain.ferry.tar', '--key', 'vendor.pub'], { cwd: dir });
    expect(unsigned.code).toBe(3);
    expect(unsigned.stderr).toContain('the bundle is not signed');
  });

  it('shipping: the customer imports a signed bundle without --key (warned), and reads it without the manifest: sbom, map -t, report --bundle alone', async () => {
    const cust = path.join(dir, 'customer');
    await mkdir(cust);
    for (const f of ['s1.ferry.tar', 'site.yaml']) await writeFile(path.join(cust, f), await readFile(path.join(dir, f)));
    const sbom = await runFerry(['sbom', 's1.ferry.tar', '-q'], { cwd: cust });
    expect(sbom.code, sbom.stderr).toBe(0);
    expect(JSON.parse(sbom.stdout).bomFormat).toBe('CycloneDX');
    const map = await runFerry(['map', 's1.ferry.tar', '-t', 'site.yaml'], { cwd: cust });
    expect(map.code, map.stderr).toBe(0);
    expect(map.stdout).toContain('https://files.site.internal/');
    const report = await runFerry(['report', '--bundle', 's1.ferry.tar', '-o', 'report.html'], { cwd: cust });
    expect(report.code, report.stderr).toBe(0);
    expect(await readFile(path.join(cust, 'report.html'), 'utf8')).toContain('tool');
    const imp = await runFerry(['import', 's1.ferry.tar', '--target', 'site.yaml', '-q'], { cwd: cust });
    expect(imp.code, imp.stderr).toBe(0);
    expect(imp.stderr).toContain('nothing here says who made it');
  });

  it('SBOM: SPDX `created` is SOURCE_DATE_EPOCH when set', async () => {
    const r = await runFerry(['sbom', 's1.ferry.tar', '--format', 'spdx', '-q'], { cwd: dir, env: { SOURCE_DATE_EPOCH: '1700000000' } });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).creationInfo.created).toBe('2023-11-14T22:13:20Z');
  });

  it('serve: `--listen :<port>` is every IPv4 interface; the address goes to stdout, the access log and reloads to stderr', async () => {
    await symlink('s1.ferry.tar', path.join(dir, 'current.ferry.tar'));
    const child = spawn(process.execPath, [FERRY, 'serve', 'current.ferry.tar', '--listen', ':0', '--access-log'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    try {
      const port = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d) => {
          out += d;
          const m = /listening on http:\/\/0\.0\.0\.0:(\d+)/.exec(out);
          if (m) resolve(m[1]);
        });
        child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
      });
      const host = new URL(server.url).host.replace(':', '-');
      const res = await fetch(`http://127.0.0.1:${port}/files/${host}/dl/tool.bin`, { headers: { range: 'bytes=0-9' } });
      expect(res.status).toBe(206);
      expect(Buffer.from(await res.arrayBuffer())).toEqual(fileBytes.subarray(0, 10));
      await writeFile(path.join(dir, 'broken.ferry.tar'), 'not a tar\n');
      await rm(path.join(dir, 'current.ferry.tar'));
      await symlink('broken.ferry.tar', path.join(dir, 'current.ferry.tar'));
      child.kill('SIGHUP');
      for (let i = 0; i < 200 && !err.includes('reload failed'); i++) await new Promise((r) => setTimeout(r, 50));
      expect(err).toContain('warning: reload failed, still serving what was served before: ');
      expect((await fetch(`http://127.0.0.1:${port}/files/${host}/dl/tool.bin`)).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
    expect(err).toContain(`GET /files/${new URL(server.url).host.replace(':', '-')}/dl/tool.bin 206`);
    expect(out).not.toContain('GET /files/');
  });

  it('files auth: an unset bearerTokenEnv stops lock naming it before anything is sent; the token goes to the URL’s origin, not to the redirect’s', async () => {
    const seen: string[] = [];
    const body = randomBytes(500);
    const cdn = createHttpServer((req, res) => {
      seen.push(`cdn ${req.method} ${req.headers.authorization ?? '-'}`);
      res.writeHead(200, { 'content-length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
    await new Promise<void>((r) => cdn.listen(0, '127.0.0.1', r));
    const cdnPort = (cdn.address() as { port: number }).port;
    const hub = createHttpServer((req, res) => {
      seen.push(`hub ${req.method} ${req.headers.authorization ?? '-'}`);
      res.writeHead(302, { location: `http://127.0.0.1:${cdnPort}/blob?sig=1` });
      res.end();
    });
    await new Promise<void>((r) => hub.listen(0, '127.0.0.1', r));
    const hubPort = (hub.address() as { port: number }).port;
    try {
      const m = ['apiVersion: ferry/v1alpha1', 'kind: Manifest', 'metadata: { name: model }', 'files:', '  - name: shard-1',
        `    url: http://127.0.0.1:${hubPort}/acme/model/resolve/0123abc/model-00001-of-00002.safetensors`, '    auth: { bearerTokenEnv: HF_TOKEN }', ''].join('\n');
      await writeFile(path.join(dir, 'model.yaml'), m);
      const unset = await runFerry(['lock', 'model.yaml', '-q'], { cwd: dir, env: { ...env(), HF_TOKEN: '' } });
      expect(unset.code).not.toBe(0);
      expect(unset.stderr).toContain('HF_TOKEN');
      expect(seen).toEqual([]);
      const r = await runFerry(['lock', 'model.yaml', '-q'], { cwd: dir, env: { ...env(), HF_TOKEN: 'hf_secret' } });
      expect(r.code, r.stderr).toBe(0);
      expect(seen.filter((s) => s.startsWith('hub'))).not.toHaveLength(0);
      for (const s of seen) expect(s).toMatch(s.startsWith('hub') ? / Bearer hf_secret$/ : / -$/);
      expect(seen.some((s) => s.startsWith('cdn GET'))).toBe(true);
      const lock = await readFile(path.join(dir, 'model.lock.json'), 'utf8');
      expect(lock).toContain('HF_TOKEN');
      expect(lock).not.toContain('hf_secret');
    } finally {
      await new Promise((r) => hub.close(r));
      await new Promise((r) => cdn.close(r));
    }
  });
});
