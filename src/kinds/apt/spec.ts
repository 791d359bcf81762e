import { z } from 'zod';

const insideRepo = (s: string) => !s.startsWith('/') && !s.split('/').includes('..') && !/\s/.test(s);

export const AptSpecSchema = z
  .object({
    name: z.string().min(1),
    url: z.string().regex(/^https?:\/\/\S+$/, 'url must be http(s)://'),
    suites: z
      .array(
        z
          .string()
          .min(1)
          .superRefine((s, ctx) => {
            // apt's flat form (`deb URL ./`, `deb URL /`, `deb URL binary/`): no dists/ to mirror.
            if (s === '.' || s.endsWith('/')) {
              ctx.addIssue({ code: 'custom', message: `suite ${JSON.stringify(s)} is apt's flat repository form (Release and Packages beside the .deb files, no dists/), which ferry does not mirror: carry the packages as files: entries and publish them on the site with aptly or reprepro (README, APT repositories)` });
            } else if (!insideRepo(s)) ctx.addIssue({ code: 'custom', message: 'suite must be a path under dists/ (no leading /, no ..)' });
          }),
      )
      .min(1),
    components: z
      .array(
        // PGDG's per-major components (`components: [main, 15]`): YAML reads 15 as a number.
        z
          .union([z.string(), z.number().transform(String)])
          .pipe(z.string().min(1).refine(insideRepo, 'component must be a relative path (no leading /, no ..)')),
      )
      .min(1)
      .default(['main']),
    architectures: z.array(z.string().min(1)).min(1).default(['amd64']),
    packages: z.array(z.string().min(1)).optional().describe('These (name or name=version) and their dependency closure over Depends and Pre-Depends; omitted = the whole component.'),
    keys: z
      .array(z.string().min(1))
      .min(1, 'keys must list at least one OpenPGP public key file: ferry verifies every repository signature')
      .describe('OpenPGP public keys that sign the repository (files relative to the manifest).'),
  })
  .strict();

export type AptSpec = z.infer<typeof AptSpecSchema>;
