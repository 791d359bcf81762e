import { realpath } from 'node:fs/promises';
import { FerryError } from '../errors.js';
import { discoverWithDocuments, userValues, type DiscoveryResult, type UserValues } from '../kinds/chart/discover.js';
import type { RenderedDocument } from '../kinds/chart/render/index.js';
import { loadChart, readValuesFile } from '../kinds/chart/load.js';
import { bareWords, compileJsonPath, imagePathOutcomes, JSONPATH_LIMITS } from '../kinds/chart/discover/jsonpath.js';
import type { Candidate, ConvertNote, LocalChart } from '../manifest/convert/common.js';
import { isWithin } from '../store/safe-path.js';

/** Local charts one conversion renders (each loads up to 100 MiB of chart files). */
export const MAX_LOCAL_CHARTS = 32;

export interface LocalChartImages {
  candidates: Candidate[];
  skipped: ConvertNote[];
  notes: ConvertNote[];
}

const REPO_TODO = 'To carry the chart itself, publish it to an HTTP or OCI chart repository (helm package, helm push) and list it under charts: with that repo.';

/**
 * The charts on disk a source deploys: each is rendered as `helm template` does (its vendored
 * sub-charts under charts/, directories or .tgz, with it; a dependency whose condition or tags
 * are false by the values is left out, as helm does) with the source's values files, and the
 * images it deploys are carried under images:. The chart itself is not carried (a ferry chart
 * comes from a repository), and that is named; so are the images only possibly deployed, the
 * dependencies left out and those not vendored. A chart is read only inside its source's tree.
 */
export async function localChartImages(charts: LocalChart[]): Promise<LocalChartImages> {
  const out: LocalChartImages = { candidates: [], skipped: [], notes: [] };
  // One render per chart and values (many releases of one chart): its images and dependencies named once.
  const done = new Map<string, { found: DiscoveryResult; documents: RenderedDocument[] } | undefined>();
  for (const c of charts) {
    const skip = (item: string, why: string, todo: string) => void out.skipped.push({ from: c.from, item, why, todo });
    const key = [c.location, ...c.values.map((v) => v.abs)].join('\0');
    if (!done.has(key) && done.size >= MAX_LOCAL_CHARTS) {
      skip(c.item, `a local chart (${c.shown}); more than ${MAX_LOCAL_CHARTS} local charts in one conversion, so this one is not rendered and its images are not carried`, 'Convert fewer files at once, or list the chart\'s images under images: (`ferry charts images <dir>` lists them).');
      continue;
    }
    const real = await realpath(c.location).catch(() => undefined);
    if (real === undefined) {
      skip(c.item, `a local chart, but there is nothing at ${c.location}`, 'Fix the path, or convert from the directory the tool runs in.');
      continue;
    }
    if (!isWithin(c.location, c.root) || !isWithin(real, c.root)) {
      skip(c.item, `a local chart at ${c.location}, outside ${c.root}; ferry reads a local chart only inside the source's directory`, `Convert from a directory that holds it, or list its images under images: (\`ferry charts images ${c.shown}\` lists them).`);
      continue;
    }
    const seen = done.has(key);
    let result = done.get(key);
    if (!seen) try {
      const values: UserValues[] = [];
      for (const v of c.values) {
        const realValues = await realpath(v.abs).catch(() => undefined);
        if (realValues === undefined) continue; // named by the converter (localFile)
        if (!isWithin(realValues, c.root)) {
          skip(`${c.item} values ${v.shown}`, `outside ${c.root}; ferry reads a local chart's values only inside the source's directory, so the chart is rendered without it`, 'Keep the values file beside the source and convert again.');
          continue;
        }
        values.push(userValues(await readValuesFile(realValues, { shown: v.shown }), v.shown));
      }
      const chart = await loadChart(real, { allFiles: true });
      const { result: found, documents } = discoverWithDocuments(chart, { values });
      result = { found, documents };
    } catch (err) {
      if (!(err instanceof FerryError)) throw err;
      skip(c.item, `a local chart (${c.shown}) that ferry cannot read: ${err.message}`, err.hint ?? 'Fix the chart, or list its images under images:.');
    }
    done.set(key, result);
    if (!result) {
      if (seen) skip(c.item, `a local chart (${c.shown}) that ferry cannot read (said at its first use)`, 'Fix the chart, or list its images under images:.');
      continue;
    }
    const { documents } = result;
    const found = result.found;
    const { chart } = found;
    const certain = found.images.filter((i) => i.certainty === 'certain');
    const platforms = c.platforms ? { platforms: c.platforms } : {};
    for (const img of certain) out.candidates.push({ field: 'images', entry: { ref: img.ref, ...platforms }, from: c.from });
    imagePathImages(c, documents, found.renderError, out);
    const withValues = c.values.length ? ` with ${c.values.map((v) => v.shown).join(', ')}` : ' with its default values';
    skip(
      c.item,
      `a local chart (${c.shown}: ${chart.name} ${chart.version}); ferry's charts come from repositories, so the chart is not carried, but the ${certain.length} image${certain.length === 1 ? '' : 's'} it deploys${withValues} (rendered as helm template renders it, vendored sub-charts included) ${certain.length === 1 ? 'is' : 'are'} carried under images:`,
      `${REPO_TODO} Keep the chart with your deployment.`,
    );
    if (seen) continue;
    if (found.renderError) out.notes.push({ from: c.from, item: `${c.item} images`, why: `the chart did not render (${found.renderError}); its images were read from its values alone`, todo: 'Check them: `ferry charts images <dir> --why`.' });
    for (const img of found.images.filter((i) => i.certainty !== 'certain')) {
      const reason = img.sources.map((s) => s.reason).find(Boolean);
      skip(`${c.item} image ${img.ref}`, img.certainty === 'test' ? 'only `helm test` runs it (a test hook)' : `not deployed with these values${reason ? ` (${reason})` : ''}`, 'List it under images: if you deploy it.');
    }
    for (const s of found.skippedSubcharts) {
      skip(`${c.item} dependency ${s.chart}`, `not rendered: ${s.reason}, so its images are not carried (helm leaves it out too)`, 'If you deploy it, enable it in a values file the source names and convert again.');
    }
    for (const d of found.missingDependencies) {
      skip(`${c.item} dependency ${d.dependency}${d.version ? ` ${d.version}` : ''}${d.repository ? ` (${d.repository})` : ''}`, 'not vendored under the chart\'s charts/, so its images are not found here', `Run \`helm dependency build ${c.shown}\` and convert again, or list the dependency under charts: with its repo.`);
    }
  }
  return out;
}

/** Why a JSONPath is not one ferry evaluates (oc-mirror's `imagePaths`, a chart entry's `imagePaths:`), or undefined. */
export function imagePathProblem(p: string): string | undefined {
  const compiled = compileJsonPath(p);
  return 'problem' in compiled ? compiled.problem : undefined;
}

/**
 * oc-mirror's `imagePaths`: each JSONPath read in every rendered object, as oc-mirror reads it
 * (client-go's output split on spaces; a result that is no image reference is passed over, as
 * oc-mirror passes it over). A path ferry does not evaluate, or one that finds nothing, is named.
 */
function imagePathImages(c: LocalChart, documents: RenderedDocument[], renderError: string | undefined, out: LocalChartImages): void {
  const specs = c.imagePaths ?? [];
  const notEvaluated = (p: (typeof specs)[number], problem: string) =>
    out.skipped.push({ from: p.from, item: `${c.item} imagePaths: ${p.path}`, why: `not evaluated: ${problem}; the images it names are not carried`, todo: 'Write it as one {.a.b[*].c} path (fields, [*], [n], ..field, [?(@.f == \'v\')]), or list those images under images:.' });
  if (renderError !== undefined) {
    for (const p of specs) {
      const problem = imagePathProblem(p.path);
      if (problem) notEvaluated(p, problem);
      else out.skipped.push({ from: p.from, item: `${c.item} imagePaths: ${p.path}`, why: 'not evaluated: the chart did not render, so there are no objects to read it in', todo: 'Fix the chart, or list the images it names under images:.' });
    }
    return;
  }
  imagePathOutcomes(specs.map((p) => p.path), documents).forEach((o, i) => {
    const p = specs[i];
    const item = `${c.item} imagePaths: ${p.path}`;
    if ('problem' in o) return void notEvaluated(p, o.problem);
    const { refs, bare, exhausted } = o;
    if (exhausted) {
      out.skipped.push({ from: p.from, item, why: `not evaluated in every object: reading the rendered chart takes more than ${JSONPATH_LIMITS.visits} steps, so images it names may be missing`, todo: 'List the images it names under images:.' });
    }
    if (bare.length) {
      out.skipped.push({ from: p.from, item: `${item}: ${bareWords(bare)}`, why: 'found there, but a bare word (no registry path, tag or digest) is not carried as an image (oc-mirror would try docker.io/library/<word>:latest)', todo: 'If one is an image you deploy, list it under images: with its full reference.' });
    }
    for (const ref of refs) out.candidates.push({ field: 'images', entry: { ref, ...(c.platforms ? { platforms: c.platforms } : {}) }, from: p.from });
    if (!refs.length && !exhausted) {
      out.notes.push({ from: p.from, item, why: 'names no image in the rendered chart (with the values it is rendered with)', todo: 'Check the path against `helm template` output; nothing is missing if the chart puts no image there.' });
    }
  });
}
