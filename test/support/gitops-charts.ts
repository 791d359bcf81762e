import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { mustRun } from './cli.js';
import { packageChart, startStaticServer, writeHelmLayout, writeRepoIndex, type StaticServer } from './chart-repo.js';
import { skopeoEnv, type RunningRegistry } from './registry.js';

/**
 * Two small charts as GitOps sources name them: `web` 2.1.0 in an HTTP chart repository (nginx,
 * `<repoUrl>` = `…/stable`), and `api` 1.0.0 pushed to `reg` as `helm push` lays it out
 * (`oci://<reg>/charts/api:1.0.0`). Each renders one ConfigMap. The caller stops `repo`.
 */
export async function serveWebAndApiCharts(work: string, reg: RunningRegistry): Promise<{ repo: StaticServer; repoUrl: string }> {
  const src = path.join(work, 'src');
  for (const name of ['web', 'api']) {
    await mkdir(path.join(src, name, 'templates'), { recursive: true });
    await writeFile(path.join(src, name, 'Chart.yaml'), `apiVersion: v2\nname: ${name}\nversion: ${name === 'web' ? '2.1.0' : '1.0.0'}\n`);
    await writeFile(path.join(src, name, 'values.yaml'), 'replicaCount: 1\n');
    await writeFile(path.join(src, name, 'templates', 'cm.yaml'), `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ${name} }\ndata: { replicas: "{{ .Values.replicaCount }}" }\n`);
  }
  const stable = path.join(work, 'repo', 'stable');
  const web = await packageChart(path.join(src, 'web'), stable);
  await writeRepoIndex(stable, [web]);
  const repo = await startStaticServer(path.join(work, 'repo'));
  const api = await packageChart(path.join(src, 'api'), path.join(work, 'oci'));
  const layout = path.join(work, 'layout');
  await writeHelmLayout(layout, api, 'api');
  await mustRun('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout}:api`, `docker://${reg.host}/charts/api:1.0.0`], { env: skopeoEnv() });
  return { repo, repoUrl: `${repo.url}/stable` };
}
