import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadChartDir } from '../../../../src/kinds/chart/load.js';
import { formatRendered, renderChart, type RenderResult } from '../../../../src/kinds/chart/render/index.js';
import { GO_YAML_OPTIONS } from '../../../../src/kinds/chart/render/goyaml.js';
import { ROOT } from '../../../support/cli.js';

/**
 * Goldens under test/fixtures/charts/render/<chart>/ were made by the independent Go renderer
 * (see generate.sh there). Each chart's cases.json names the variants, their values files and API
 * versions, and the fields to ignore when comparing (values made by random functions, with why).
 */
export const CORPUS = process.env.FERRY_CHART_CORPUS ?? path.resolve(ROOT, '../shared/corpus/charts');
export const GOLDEN = path.join(ROOT, 'test/fixtures/charts/render');
export const CHARTS = ['cert-manager', 'external-dns', 'ingress-nginx', 'keycloak', 'mysql-operator', 'nats', 'postgres-operator'];

export interface Variant {
  values?: string[];
  apiVersions?: string[];
}

export interface Cases {
  namespace?: string;
  variants: Record<string, Variant>;
  /** `<source> <kind> <name> <path>` → why the field differs between any two renders. */
  ignore?: Record<string, string>;
}

export function corpusPresent(): boolean {
  return existsSync(CORPUS);
}

export async function cases(chart: string): Promise<Cases> {
  return JSON.parse(await readFile(path.join(GOLDEN, chart, 'cases.json'), 'utf8')) as Cases;
}

export async function renderVariant(chart: string, variant: string): Promise<{ result: RenderResult; ms: number }> {
  const c = await cases(chart);
  const v = c.variants[variant];
  const values = [];
  for (const f of v.values ?? []) values.push({ name: f, data: await readFile(path.join(GOLDEN, chart, f), 'utf8') });
  const t0 = performance.now();
  const loaded = await loadChartDir(path.join(CORPUS, chart), undefined, { allFiles: true });
  const result = renderChart(loaded, { namespace: c.namespace, values, apiVersions: v.apiVersions });
  return { result, ms: performance.now() - t0 };
}

/** Parse a `helm template` stream into documents keyed `<source> <kind> <name>` (+ `#n` for repeats). */
export function parseStream(text: string): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const part of text.split(/^---\n/m)) {
    const m = /^# Source: (.*)\n/.exec(part);
    if (!m) continue;
    for (const d of parseAllDocuments(part, GO_YAML_OPTIONS)) {
      const o = d.toJS() as { kind?: string; metadata?: { name?: string } } | null;
      if (o === null || o === undefined) continue;
      const key = `${m[1]} ${o.kind} ${o.metadata?.name}`;
      let k = key;
      for (let i = 1; out.has(k); i++) k = `${key}#${i}`;
      out.set(k, o);
    }
  }
  return out;
}

function diff(a: unknown, b: unknown, p: string, out: string[]): void {
  if (JSON.stringify(a) === JSON.stringify(b)) return;
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) diff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], p ? `${p}.${k}` : k, out);
    return;
  }
  out.push(`${p}: ${JSON.stringify(a)?.slice(0, 200)} != ${JSON.stringify(b)?.slice(0, 200)}`);
}

/** Differences between ferry's stream and the golden one, minus the documented ignores. */
export function compareStreams(ours: string, golden: string, ignore: Record<string, string> = {}): string[] {
  const a = parseStream(ours);
  const b = parseStream(golden);
  const problems: string[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    if (!a.has(k)) {
      problems.push(`missing from ferry's render: ${k}`);
      continue;
    }
    if (!b.has(k)) {
      problems.push(`only in ferry's render: ${k}`);
      continue;
    }
    const d: string[] = [];
    diff(a.get(k), b.get(k), '', d);
    for (const x of d) {
      const field = x.slice(0, x.indexOf(': '));
      if (Object.hasOwn(ignore, `${k} ${field}`)) continue;
      problems.push(`${k} ${x}`);
    }
  }
  return problems;
}

export { formatRendered };
