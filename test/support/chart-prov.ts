import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { mustRun } from './cli.js';
import type { GpgKey } from './apt-repo.js';
import type { PackagedChart } from './chart-repo.js';
import { OCI_MANIFEST, pushBlob, putManifest } from './oci-push.js';
import type { RunningRegistry } from './registry.js';

/**
 * Helm chart provenance for tests: the signed text `helm package --sign` writes, clear-signed by
 * a real `gpg`, and a chart pushed to a real registry as `helm push` does with its provenance layer.
 */

/** The signed text `helm package --sign` writes: Chart.yaml (keys sorted, as sigs.k8s.io/yaml), `...`, the sums. */
export function helmMessage(meta: Record<string, unknown>, file: string, digestHex: string): string {
  const sorted = Object.fromEntries(Object.entries(meta).sort(([a], [b]) => (a < b ? -1 : 1)));
  return `${stringifyYaml(sorted)}\n...\nfiles:\n  ${file}: sha256:${digestHex}\n`;
}

/** `text` clear-signed by `key` into `out` (SHA-512, as gpg's default for Helm); its bytes. */
export async function clearsign(key: GpgKey, text: string, out: string): Promise<Buffer> {
  const msg = `${out}.msg`;
  await writeFile(msg, text);
  await mustRun('gpg', ['--batch', '--yes', '--pinentry-mode', 'loopback', '--passphrase', '', '--local-user', key.fingerprint, '--digest-algo', 'SHA512', '--clearsign', '--output', out, msg], { env: { GNUPGHOME: key.home } });
  await rm(msg);
  return readFile(out);
}

/** Push a chart as `helm push` does, with its provenance layer when given, to `<reg>/<repo>/<name>:<version>`. */
export async function pushOciChart(reg: RunningRegistry, c: PackagedChart, prov: Buffer | undefined, repo = 'charts'): Promise<void> {
  const repoName = `${repo}/${c.name}`;
  const config = await pushBlob(reg, repoName, Buffer.from(JSON.stringify({ name: c.name, version: c.version, apiVersion: 'v2', description: c.metadata.description })));
  const chart = await pushBlob(reg, repoName, await readFile(c.file));
  const provLayer = prov ? await pushBlob(reg, repoName, prov) : undefined;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', ...config },
      layers: [
        { mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip', ...chart },
        ...(provLayer ? [{ mediaType: 'application/vnd.cncf.helm.chart.provenance.v1.prov', ...provLayer }] : []),
      ],
    }),
  );
  await putManifest(reg, repoName, c.version, manifest, OCI_MANIFEST);
}

/** Sign a packaged chart's provenance with `key`, beside it (`<archive>.prov`), as `helm package --sign` does. */
export async function signPackaged(key: GpgKey, c: PackagedChart): Promise<Buffer> {
  return clearsign(key, helmMessage(c.metadata, path.basename(c.file), c.digest), `${c.file}.prov`);
}

/** A project directory: the armored public keys (file name → key) and a manifest listing `charts`. */
export async function writeChartsProject(dir: string, name: string, charts: unknown[], keys: Record<string, GpgKey>): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const [file, key] of Object.entries(keys)) await writeFile(path.join(dir, file), await readFile(key.publicKey));
  await writeFile(path.join(dir, 'manifest.yaml'), stringifyYaml({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name }, charts }));
  return dir;
}

/** The lock `ferry lock` wrote for manifest `name` in `dir`. */
export const chartLockOf = async (dir: string, name: string) => JSON.parse(await readFile(path.join(dir, `${name}.lock.json`), 'utf8')) as { charts: Array<Record<string, any>> };
