import { execFileSync } from 'node:child_process';
import { chmod, lstat, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { rewriteManifests } from '../../src/rewrite/manifests.js';
import { isDeb822, rewriteAptSources } from '../../src/rewrite/apt-sources.js';
import vm from 'node:vm';
import { replaceFilesAtomic } from '../../src/store/temp-files.js';
import { isFerryError } from '../../src/errors.js';
import { fixtureContext, scratch, write } from './rewrite/helpers.js';

const pod = (img: string) => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: a\n      image: ${img}\n`;
const NGINX = 'mirror.site.example:5000/ferry/docker.io/library/nginx:1.27';

async function refused(p: Promise<unknown>): Promise<{ message: string; details: string[] }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isFerryError(err)).toBe(true);
  const e = err as { message: string; details?: string[] };
  return { message: e.message, details: e.details ?? [] };
}

describe('rewrite in place on crafted files', () => {
  it('a link to a file outside is refused: neither the target is written nor the link replaced; nothing else is written', async () => {
    const dir = await scratch();
    const outside = await scratch();
    const target = await write(outside, 'real.yaml', pod('nginx:1.27'));
    const other = await write(dir, 'a.yaml', pod('nginx:1.27'));
    await symlink(target, path.join(dir, 'link.yaml'));
    const e = await refused(rewriteManifests([dir], await fixtureContext(), {}));
    expect(e.message).toMatch(/nothing was written/);
    expect(e.details.join('\n')).toContain(`link.yaml: a symbolic link (to ${target})`);
    expect((await lstat(path.join(dir, 'link.yaml'))).isSymbolicLink()).toBe(true);
    expect(await readFile(target, 'utf8')).toBe(pod('nginx:1.27'));
    expect(await readFile(other, 'utf8')).toBe(pod('nginx:1.27'));
  });

  it('a link inside the directory is its target, rewritten once by its own name; a directory link loop is not entered', async () => {
    const dir = await scratch();
    const real = await write(dir, 'real.yaml', pod('nginx:1.27'));
    await symlink('real.yaml', path.join(dir, 'alias.yaml'));
    await symlink('.', path.join(dir, 'loop'));
    const r = await rewriteManifests([dir], await fixtureContext(), {});
    expect(r.files).toEqual([real]);
    expect((await lstat(path.join(dir, 'alias.yaml'))).isSymbolicLink()).toBe(true);
    expect(await readFile(path.join(dir, 'alias.yaml'), 'utf8')).toBe(pod(NGINX));
  });

  it('a read-only file is refused (it used to be replaced, and came back 0644); a 0600 file keeps its mode', async () => {
    const dir = await scratch();
    const ro = await write(dir, 'ro.yaml', pod('nginx:1.27'));
    await chmod(ro, 0o444);
    const e = await refused(rewriteManifests([ro], await fixtureContext(), {}));
    expect(e.details.join('\n')).toMatch(/ro\.yaml: read-only/);
    expect(await readFile(ro, 'utf8')).toBe(pod('nginx:1.27'));
    expect((await stat(ro)).mode & 0o777).toBe(0o444);
    const secret = await write(dir, 'secret.yaml', pod('nginx:1.27'));
    await chmod(secret, 0o600);
    await rewriteManifests([secret], await fixtureContext(), {});
    expect(await readFile(secret, 'utf8')).toBe(pod(NGINX));
    expect((await stat(secret)).mode & 0o777).toBe(0o600);
  });

  it('a file changed between read and write keeps the other writer\'s change', async () => {
    const dir = await scratch();
    const f = await write(dir, 'a.yaml', pod('nginx:1.27'));
    await writeFile(f, pod('nginx:1.27') + '# edited\n');
    const e = await refused(replaceFilesAtomic([{ file: f, expected: pod('nginx:1.27'), data: pod(NGINX) }]));
    expect(e.details).toEqual([`${f}: changed since ferry read it`]);
    expect(await readFile(f, 'utf8')).toBe(pod('nginx:1.27') + '# edited\n');
  });

  it('invalid UTF-8 is refused, naming the line (it used to come back with U+FFFD over the original bytes)', async () => {
    const dir = await scratch();
    const f = path.join(dir, 'latin1.yaml');
    const bytes = Buffer.concat([Buffer.from('# caf'), Buffer.from([0xe9]), Buffer.from('\n' + pod('nginx:1.27'))]);
    await writeFile(f, bytes);
    const e = await refused(rewriteManifests([f], await fixtureContext(), {}));
    expect(e.message).toContain('is not valid UTF-8 (line 1)');
    expect(await readFile(f)).toEqual(bytes);
  });

  it('a BOM, CRLF line endings and comments are kept byte for byte', async () => {
    const dir = await scratch();
    const text = '\ufeff' + pod('nginx:1.27 # pinned').replace(/\n/g, '\r\n');
    const f = await write(dir, 'crlf.yaml', text);
    await rewriteManifests([f], await fixtureContext(), {});
    expect(await readFile(f, 'utf8')).toBe(text.replace('nginx:1.27', NGINX));
  });

  it('a FIFO named *.yaml in the directory is left alone; one named on the command line is refused without waiting', async () => {
    const dir = await scratch();
    execFileSync('mkfifo', [path.join(dir, 'pipe.yaml')]);
    const f = await write(dir, 'a.yaml', pod('nginx:1.27'));
    const r = await rewriteManifests([dir], await fixtureContext(), {});
    expect(r.files).toEqual([f]);
    const e = await refused(rewriteManifests([path.join(dir, 'pipe.yaml')], await fixtureContext(), {}));
    expect(e.message).toContain('a FIFO, not read');
  });

  it('an image set through an alias is rewritten at its anchor (it used to be neither rewritten nor reported)', async () => {
    const dir = await scratch();
    const text = `x-img: &img nginx:1.27\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: a\n      image: *img\n    - name: b\n      image: *img\n`;
    const f = await write(dir, 'alias.yaml', text);
    const r = await rewriteManifests([f], await fixtureContext(), {});
    expect(r.replacements.map((x) => [x.line, x.old, x.new])).toEqual([[1, 'nginx:1.27', NGINX]]);
    const after = await readFile(f, 'utf8');
    expect(after).toBe(text.replace('&img nginx:1.27', `&img ${NGINX}`));
    const doc = parse(after) as { spec: { containers: Array<{ image: string }> } };
    expect(doc.spec.containers.map((c) => c.image)).toEqual([NGINX, NGINX]);
  });

  it('an anchored image used by a second container is rewritten once and means the same after', async () => {
    const dir = await scratch();
    const text = `apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: a\n      image: &img nginx:1.27\n    - name: b\n      image: *img\n`;
    const f = await write(dir, 'anchor.yaml', text);
    await rewriteManifests([f], await fixtureContext(), {});
    const doc = parse(await readFile(f, 'utf8')) as { spec: { containers: Array<{ image: string }> } };
    expect(doc.spec.containers.map((c) => c.image)).toEqual([NGINX, NGINX]);
  });

  it('APT sources of many blank lines are told apart in linear time (`^\\s*` with /m was quadratic: 150 000 lines took ~10 s)', async () => {
    const dir = await scratch();
    const f = await write(dir, 'sources.list', '\n'.repeat(150_000) + 'deb http://deb.debian.org/debian bookworm main\n');
    const ctx = await fixtureContext();
    // Under vm's watchdog: the old pattern took minutes on 400 000 blank lines.
    const blank = '\n'.repeat(400_000);
    expect(vm.runInNewContext('isDeb822("x.list", blank + "Types: deb\\n")', { isDeb822, blank }, { timeout: 20_000 })).toBe(true);
    expect(vm.runInNewContext('isDeb822("x.list", blank)', { isDeb822, blank }, { timeout: 20_000 })).toBe(false);
    const r = await rewriteAptSources([f], ctx, { dryRun: true, allowUnmapped: true });
    expect(r.replacements.length + r.unmapped.length).toBeGreaterThan(0);
  });
});
