import { z } from 'zod';
import { manifestUrl } from '../types.js';
import { HttpAuthSchema } from '../repo-auth.js';
import { compileJsonPath, JSONPATH_LIMITS } from './discover/jsonpath.js';
import { PlatformsSchema } from '../image/spec.js';

export const ChartSpecSchema = z
  .object({
    name: z.string().min(1).describe('Chart name in the repository.'),
    repo: manifestUrl(/^(https?|oci):\/\/\S+$/, 'repo must be an http(s):// chart repository or an oci:// registry path')
      .describe('HTTP repository (serving index.yaml) or oci://registry/path.'),
    version: z.string().min(1).describe('Exact version, or a semver range (the newest match wins).'),
    auth: HttpAuthSchema.optional().describe("Credentials for an HTTP repository that wants them (Artifactory, Nexus, ChartMuseum): the names of environment variables (usernameEnv + passwordEnv, or bearerTokenEnv), never the secret; sent to the repository's own origin. Without it, the repository's entry in Helm's repositories.yaml is used."),
    values: z.array(z.string()).optional().describe('Values files you deploy with, relative to the manifest.'),
    keys: z
      .array(z.string().min(1))
      .min(1, 'keys must list at least one OpenPGP public key file (or drop keys: to carry the chart unverified)')
      .optional()
      .describe("OpenPGP public keys (armored or binary keyring files, as `helm --keyring` takes; relative to the manifest) that sign the chart's provenance: given, `lock` requires the chart's .prov (OCI: its provenance layer), signed by one of them and naming the archive's sha256, as `helm pull --verify` does, and records the signer; each dependency the chart does not vendor (fetched from its repository) is held to the same keys, as `helm dependency build --verify` holds it, and its signer recorded too."),
    kubeVersion: z
      .string()
      .regex(/^v?\d+\.\d+(\.\d+)?$/, 'kubeVersion must be v<major>.<minor>[.<patch>], e.g. v1.34.0')
      .optional()
      .describe("Your cluster's Kubernetes version, as `--kube-version` for discovery (default v1.29.0, or the oldest the chart accepts)."),
    images: z
      .union([z.enum(['discover', 'none']), z.array(z.string())])
      .default('discover')
      .describe('discover (default): bundle every image the chart deploys; none; or an explicit list.'),
    platforms: PlatformsSchema.optional().describe(
      "The platforms (os/arch[/variant]) every image this chart brings is carried for: those discovered, imagePaths' and an explicit images: list (default: the manifest's top-level platforms:, else every platform upstream has). An image another entry brings too is carried for the union of what they ask for.",
    ),
    testImages: z
      .enum(['name', 'carry'])
      .optional()
      .describe('The images only `helm test` runs (test hooks), found with images: discover. name (default): recorded in the lock and named by rewrite, not bundled; carry: bundled with the chart\'s images.'),
    imagePaths: z
      .array(
        z
          .string()
          .max(JSONPATH_LIMITS.length)
          .superRefine((p, ctx) => {
            const c = compileJsonPath(p);
            if ('problem' in c) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(p)} is not a JSONPath ferry evaluates: ${c.problem}; write one {…} path of fields, ['a.b'], [*], [n], ..field and [?(@.f == 'v')]` });
          }),
      )
      .max(64)
      .optional()
      .describe("More fields of the rendered objects that hold images, as Kubernetes JSONPath expressions (oc-mirror's imagePaths, e.g. \"{.spec.template.spec.containers[*].env[?(@.name == 'SIDECAR')].value}\"): with images: discover, the images found there are carried with the chart's (a bare word found there is named, not carried)."),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.auth && /^oci:/i.test(c.repo)) ctx.addIssue({ code: 'custom', path: ['auth'], message: 'auth: is for an http(s):// chart repository; an oci:// registry takes its credentials from the docker config (docker login / helm registry login)' });
    if (c.platforms && c.images === 'none') ctx.addIssue({ code: 'custom', path: ['platforms'], message: 'platforms: are the platforms of the images the chart brings, and images: none brings none; drop platforms:, or let the chart bring its images' });
    if (c.imagePaths?.length && c.images !== 'discover') ctx.addIssue({ code: 'custom', path: ['imagePaths'], message: 'imagePaths are read in the rendered chart, which only images: discover renders; drop them, or list those images under images:' });
  });

export type ChartSpec = z.infer<typeof ChartSpecSchema>;
