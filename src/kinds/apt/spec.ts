import { z } from 'zod';
import { HttpAuthSchema } from '../repo-auth.js';
import { manifestUrl } from '../types.js';
import { isSafeRelativePath } from '../../store/safe-path.js';

const insideRepo = (s: string) => !s.startsWith('/') && !s.split('/').includes('..') && !/\s/.test(s);

/**
 * apt's flat repository form (`deb URL ./`, `deb URL /`, Jenkins' `deb URL binary/`): a suite
 * ending in `/` names a directory of the repository holding its Release and Packages, no dists/.
 * The directory ('' for the repository root, `./` and `/`), or undefined for a dists/ suite.
 */
export function flatDir(suite: string): string | undefined {
  if (!suite.endsWith('/')) return undefined;
  return suite
    .split('/')
    .filter((seg) => seg !== '' && seg !== '.')
    .join('/');
}

/** A flat suite as written: `./`, `/`, or a plain relative directory with a trailing `/` (`binary/`). */
export function isFlatSuite(suite: string): boolean {
  if (suite === './' || suite === '/') return true;
  const dir = suite.endsWith('/') ? suite.slice(0, -1).replace(/^\.\//, '') : '';
  return dir !== '' && !/\s/.test(dir) && isSafeRelativePath(dir);
}

/** Where a suite's Release and indexes lie under the repository root: `dists/<suite>`, or a flat repository's directory ('' = the root). */
export function suiteDir(suite: string): string {
  return flatDir(suite) ?? `dists/${suite}`;
}

/** `rel` inside a suite's directory (the root when the directory is ''). */
export function inSuiteDir(suite: string, rel: string): string {
  const dir = suiteDir(suite);
  return dir ? `${dir}/${rel}` : rel;
}

/** The prefix every path of a suite's directory starts with ('' for a flat repository at the root). */
export function suitePrefix(suite: string): string {
  return inSuiteDir(suite, '');
}

/** One name per flat directory (`./` and `/` are the same), as a mirror's carried suites are compared. */
export function suiteKey(suite: string): string {
  const dir = flatDir(suite);
  return dir === undefined ? suite : dir ? `${dir}/` : './';
}

export const AptSpecSchema = z
  .object({
    name: z.string().min(1),
    url: manifestUrl(/^https?:\/\/\S+$/, 'url must be http(s)://'),
    suites: z
      .array(
        z
          .string()
          .min(1)
          .superRefine((s, ctx) => {
            if (s === '.') ctx.addIssue({ code: 'custom', message: 'suite "." is not apt\'s flat form: write "./" (as in `deb URL ./`)' });
            else if (s.endsWith('/')) {
              if (!isFlatSuite(s)) ctx.addIssue({ code: 'custom', message: 'a flat repository\'s directory must be "./", "/" or a relative path ending in / (no leading /, no .., no white space)' });
            } else if (!insideRepo(s)) ctx.addIssue({ code: 'custom', message: 'suite must be a path under dists/ (no leading /, no ..)' });
          }),
      )
      .min(1)
      .describe('Suites under dists/ (`bookworm`), or a flat repository\'s directory as its sources line names it (`./`, `/`, `binary/`).'),
    components: z
      .array(
        // PGDG's per-major components (`components: [main, 15]`): YAML reads 15 as a number.
        z
          .union([z.string(), z.number().transform(String)])
          .pipe(z.string().min(1).refine(insideRepo, 'component must be a relative path (no leading /, no ..)')),
      )
      .min(1)
      .default(['main'])
      .describe('Components of the dists/ suites; a flat repository has none (not read).'),
    architectures: z.array(z.string().min(1)).min(1).default(['amd64']),
    packages: z.array(z.string().min(1)).optional().describe('These (name or name=version) and their dependency closure over Depends and Pre-Depends; omitted = the whole component.'),
    keys: z
      .array(z.string().min(1))
      .min(1, 'keys must list at least one OpenPGP public key file: ferry verifies every repository signature')
      .describe('OpenPGP public keys that sign the repository (files relative to the manifest).'),
    auth: HttpAuthSchema.optional().describe("Credentials for a repository that wants them (a vendor's repository behind a login): the names of environment variables (usernameEnv + passwordEnv, or bearerTokenEnv), never the secret; sent to the url's own origin. Without it, apt's auth.conf is read."),
  })
  .strict()
  .superRefine((spec, ctx) => {
    const flat = spec.suites.filter((s) => s.endsWith('/') && isFlatSuite(s));
    // A flat directory is published whole (switched at once), so it cannot hold a dists/ suite or another flat directory.
    if (flat.length && flat.length !== spec.suites.length) {
      ctx.addIssue({ code: 'custom', path: ['suites'], message: `mixes a flat repository's directory (${flat.join(', ')}) with dists/ suites: a repository is one or the other; give the flat one an entry of its own only if its URL differs` });
      return;
    }
    const dirs = flat.map((s) => ({ s, dir: flatDir(s)! }));
    for (const a of dirs) {
      const outer = dirs.find((b) => b !== a && (b.dir === '' ? a.dir !== '' || a.s !== b.s : a.dir.startsWith(`${b.dir}/`) || a.dir === b.dir));
      if (outer) ctx.addIssue({ code: 'custom', path: ['suites'], message: `flat directory ${JSON.stringify(a.s)} lies in (or is) ${JSON.stringify(outer.s)}: each is published as a whole, so one cannot hold another` });
    }
  });

export type AptSpec = z.infer<typeof AptSpecSchema>;
