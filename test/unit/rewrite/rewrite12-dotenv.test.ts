/**
 * rewrite12: `rewrite manifests` reads the `.env` beside a Compose file as Compose does, through the
 * reader audit uses (audit/compose-env.ts): unquoted and double-quoted values are filled in from the
 * names set above them, single-quoted ones taken as written (docs.docker.com, "Syntax for
 * environment files"). It read each line's text alone, so `APP=${REGISTRY}/example/app` made an
 * image `${APP}:2.0` "pulled as ${REGISTRY}/example/app:2.0", not a valid reference, and nothing
 * moved. Now the one line whose value alone names the mirror moves; an image made of lines none of
 * which can is named, with the lines and what to set; a value that needs the shell is unknown.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { composeDotenv, composeEnvEntries } from '../../../src/audit/compose-env.js';
import { rewriteManifests } from '../../../src/rewrite/manifests.js';
import { fixtureContext, MIRROR, scratch, write } from './helpers.js';

/** A Compose file and the .env beside it, in a scratch directory. */
async function stack(compose: string, env: string): Promise<{ dir: string; file: string }> {
  const dir = await scratch();
  await write(dir, '.env', env);
  return { dir, file: await write(dir, 'compose.yaml', compose) };
}

describe('rewrite manifests: a .env value filled in from the names above it', () => {
  it('APP=${REGISTRY}/example/app: the REGISTRY line, which alone makes ${APP}:2.0 the mirror, moves; APP and the Compose file stay', async () => {
    const compose = 'services:\n  app:\n    image: ${APP}:2.0\n';
    const env = 'REGISTRY=ghcr.io # upstream\nAPP=${REGISTRY}/example/app\n';
    const { dir, file } = await stack(compose, env);
    const r = await rewriteManifests([file], await fixtureContext(), {});
    expect(r.unmapped).toEqual([]);
    expect(await readFile(file, 'utf8')).toBe(compose);
    expect(await readFile(path.join(dir, '.env'), 'utf8')).toBe(`REGISTRY=${MIRROR}/ghcr.io # upstream\nAPP=\${REGISTRY}/example/app\n`);
    expect(r.replacements.map((x) => [path.basename(x.file), x.line, x.old, x.new])).toEqual([['.env', 1, 'ghcr.io', `${MIRROR}/ghcr.io`]]);
    // As Compose reads the rewritten .env, the image is the mirror's.
    expect(composeDotenv(await readFile(path.join(dir, '.env'), 'utf8')).vars.get('APP')).toBe(`${MIRROR}/ghcr.io/example/app`);
    expect((await rewriteManifests([file], await fixtureContext(), {})).replacements).toEqual([]);
  });

  it('REGISTRY=${REGISTRY_HOST}:5000: no one line can name the mirror, so nothing moves and the image is named with both lines and what to set', async () => {
    const compose = 'services:\n  tool:\n    image: ${REGISTRY}/team/tool:1\n';
    const env = 'REGISTRY_HOST=registry.example.com\nREGISTRY=${REGISTRY_HOST}:5000\n';
    const { dir, file } = await stack(compose, env);
    const r = await rewriteManifests([file], await fixtureContext(), { allowUnmapped: true });
    expect(await readFile(path.join(dir, '.env'), 'utf8')).toBe(env);
    expect(await readFile(file, 'utf8')).toBe(compose);
    expect(r.replacements).toEqual([]);
    expect(r.unmapped).toEqual([
      expect.objectContaining({
        line: 3,
        reason: expect.stringMatching(
          /^pulled as registry\.example\.com:5000\/team\/tool:1: REGISTRY in \.env:2 is \$\{REGISTRY_HOST\}:5000, filled in from REGISTRY_HOST \(\.env:1\): no one line of \.env can be set to make it pull mirror\.site\.example:5000\/ferry\/\S+\/team\/tool:1, so nothing was changed; set REGISTRY=mirror\.site\.example:5000\/ferry\/\S+ there$/,
        ),
      }),
    ]);
  });

  it('a line two images are made of, one needing it moved and one kept, moves for neither (both named, with the line)', async () => {
    const compose = 'services:\n  app:\n    image: ${APP}:2.0\n  other:\n    image: ${REGISTRY}/example/unlisted:1\n';
    const env = 'REGISTRY=ghcr.io\nAPP=${REGISTRY}/example/app\n';
    const { dir, file } = await stack(compose, env);
    const r = await rewriteManifests([file], await fixtureContext(), { allowUnmapped: true });
    expect(await readFile(path.join(dir, '.env'), 'utf8')).toBe(env);
    expect(r.replacements).toEqual([]);
    const shared = r.unmapped.filter((u) => /REGISTRY in \.env is shared by images .*\(REGISTRY is set at \.env:1\)/.test(u.reason));
    expect(shared.map((u) => u.line).sort()).toEqual([3, 5]);
    expect(shared[0].reason).toMatch(/compose\.yaml:3 Compose service app needs REGISTRY=mirror\.site\.example:5000\/ferry\/ghcr\.io; .*compose\.yaml:5 Compose service other needs it kept \(pulls ghcr\.io\/example\/unlisted:1\)/);
  });

  it('REGISTRY=${DEPLOY_HOST}:5000 needs the shell Compose runs in: unknown, and said why (was "pulled as ${DEPLOY_HOST}:5000/…")', async () => {
    const { file } = await stack('services:\n  tool:\n    image: ${REGISTRY}/team/tool:1\n', 'REGISTRY=${DEPLOY_HOST}:5000\n');
    const r = await rewriteManifests([file], await fixtureContext(), { allowUnmapped: true });
    expect(r.replacements).toEqual([]);
    expect(r.unmapped).toHaveLength(1);
    expect(r.unmapped[0].reason).toContain('REGISTRY in .env:1 is ${DEPLOY_HOST}:5000: ${DEPLOY_HOST} is set neither above it in .env nor by a default (the shell Compose runs in may set it)');
    expect(r.unmapped[0].reason).not.toContain('pulled as');
  });
});

describe('.env values as docs.docker.com "Syntax for environment files" reads them', () => {
  const read = (text: string) => Object.fromEntries(composeDotenv(text).vars);
  it('double quotes undo the shell escapes, \\t included; single quotes keep them; \\\' and \\" are the quotes', () => {
    const text = [
      'TAB="some\\tvalue"',
      'RAW=\'some\\tvalue\'',
      'LETS=\'Let\\\'s go!\'',
      'JSON="{\\"hello\\": \\"json\\"}"',
      'NL="a\\nb\\rc"',
      'BS="C:\\\\"',
      'AFTER=1',
      '',
    ].join('\n');
    expect(read(text)).toEqual({ TAB: 'some\tvalue', RAW: 'some\\tvalue', LETS: "Let's go!", JSON: '{"hello": "json"}', NL: 'a\nb\rc', BS: 'C:\\', AFTER: '1' });
  });

  it('interpolation: unquoted and double-quoted values from the names above, single-quoted as written, \\$ a literal $', () => {
    const text = 'OTHER=x\nA=$OTHER/${OTHER}\nB="${OTHER:-d}"\nC=\'${OTHER}\'\nD="\\$OTHER"\n';
    expect(read(text)).toEqual({ OTHER: 'x', A: 'x/x', B: 'x', C: '${OTHER}', D: '$OTHER' });
  });

  it('a value\'s text stays where it is written (rewrite edits it there)', () => {
    const text = 'TAB="a\\tb" # c\n';
    const [e] = composeEnvEntries(text);
    expect(text.slice(e.start, e.end)).toBe('a\\tb');
  });
});
