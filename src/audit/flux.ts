import path from 'node:path';
import { isMap, isScalar, isSeq, type Document, type Scalar } from 'yaml';
import { parseHostileDocuments } from '../manifest/yaml-input.js';
import { FerryError, withoutStackTraces } from '../errors.js';
import type { ScannedFile } from './scan.js';
import { isWithin } from '../store/safe-path.js';
import { fluxScope, isFluxKustomization } from './kustomize.js';
import { scalarText } from '../manifest/input-file.js';
import { interpolateCompose } from './compose-env.js';

const mapGet = (m: unknown, key: string): unknown => (isMap(m) ? m.get(key, true) : undefined);

/**
 * Where a Flux post-build variable is set: a Flux Kustomization's `spec.postBuild.substitute`, or
 * the `data` of a ConfigMap (`stringData` of a Secret) its `substituteFrom` names, found in the scan.
 */
export interface FluxSetting {
  name: string;
  value: string;
  /** The scalar the value is written in (`rewrite manifests` edits it). */
  node: Scalar;
  file: string;
  by: string;
  /** Written base64-encoded (a Secret's `data`): `value` is the decoded text, an edit encodes it again. */
  encoding?: 'base64';
  /**
   * Why the value cannot be read from the file (a SOPS-encrypted value, which Flux decrypts when it
   * applies; `data` that is not base64 of UTF-8 text): what Flux substitutes is unknown.
   */
  unreadable?: string;
  /**
   * The directory the Kustomization applies (its `spec.path` under the repository root, the
   * directory holding `clusters/`); undefined when no root is known: then it is taken to apply to
   * every scanned file.
   */
  scope?: string;
}

type Entry = { name: string; value: string; node: Scalar; encoding?: 'base64'; unreadable?: string };

interface FluxKustomization {
  file: string;
  name: string;
  /** metadata.namespace as written: its substituteFrom objects are looked up in it. */
  namespace?: string;
  scope?: string;
  substitute: Entry[];
  from: Array<{ kind: string; name: string }>;
}

/** A value SOPS encrypted (`ENC[AES256_GCM,data:…,type:str]`): Flux's kustomize-controller decrypts it when it applies. */
const SOPS_VALUE = /^ENC\[[A-Z0-9_]+,data:/;

/** A Secret's `data` value: base64 of UTF-8 text, as Kubernetes decodes it; undefined when it is not. */
function fromBase64(text: string): string | undefined {
  const compact = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(compact, 'base64'));
  } catch {
    return undefined;
  }
}

/**
 * How many values (and Kustomizations) one scan reads at most, and how many settings they make
 * once each Kustomization is joined with the ConfigMaps (Secrets) it names: a crafted tree costs
 * no more (one ConfigMap of 50 000 values named by 200 Kustomizations made 10 M settings: 3.4 GB).
 */
const MAX_SETTINGS = 100_000;

function tooManySettings(kustomization: string, source: string, sourceFile: string): FerryError {
  return new FerryError('VALIDATION', `Flux variables: the Kustomizations in the scan (up to ${kustomization}, naming ${source} in ${sourceFile}) set more than ${MAX_SETTINGS.toLocaleString('en-US')} values in all, each of their substituteFrom objects' values counted once for every Kustomization naming it; ferry does not read that many`, {
    hint: 'Scan a smaller tree (one cluster directory), or check the files named: a real fleet sets a few hundred variables.',
  });
}

/** The Flux variables of a tree: `add` each parsed document, then ask `settingsFor` a file. */
export class FluxVariables {
  private readonly kustomizations: FluxKustomization[] = [];
  private readonly sources = new Map<string, Array<{ file: string; namespace?: string; entries: Entry[] }>>();
  private count = 0;
  private linked?: FluxSetting[];
  private scopes?: Map<string | undefined, true>;
  private readonly forScopes = new Map<string, Map<string, FluxSetting[]>>();

  add(doc: Document.Parsed, file: string): void {
    const c = doc.contents;
    if (!isMap(c) || this.count > MAX_SETTINGS) return;
    const kind = scalarText(mapGet(c, 'kind'));
    const name = scalarText(mapGet(mapGet(c, 'metadata'), 'name')) ?? '';
    const namespace = scalarText(mapGet(mapGet(c, 'metadata'), 'namespace')) || undefined;
    const sops = isMap(mapGet(c, 'sops'));
    const pairs = (m: unknown, encoding?: 'base64') => {
      const out: Entry[] = [];
      if (!isMap(m)) return out;
      for (const p of m.items) {
        const k = isScalar(p.key) ? scalarText(p.key) : undefined;
        if (k === undefined || !isScalar(p.value) || p.value.value === null || typeof p.value.value === 'object') continue;
        const written = String(p.value.value);
        const e: Entry = { name: k, value: written, node: p.value as Scalar };
        if (SOPS_VALUE.test(written) || (sops && written.startsWith('ENC['))) e.unreadable = `encrypted with SOPS in ${file} (Flux decrypts it when it applies)`;
        else if (encoding) {
          const text = fromBase64(written);
          if (text === undefined) e.unreadable = `not base64 of UTF-8 text in ${file}`;
          else Object.assign(e, { value: text, encoding });
        }
        out.push(e);
      }
      this.count += out.length;
      return out;
    };
    if (kind === 'ConfigMap' || kind === 'Secret') {
      // A Secret's stringData is merged over its data, key by key, as the API server does.
      const strings = pairs(mapGet(c, kind === 'ConfigMap' ? 'data' : 'stringData'));
      const entries = kind === 'Secret' ? [...strings, ...pairs(mapGet(c, 'data'), 'base64').filter((e) => !strings.some((s) => s.name === e.name))] : strings;
      const key = `${kind}/${name}`;
      const list = this.sources.get(key) ?? [];
      list.push({ file, namespace, entries });
      this.sources.set(key, list);
      this.linked = undefined;
      return;
    }
    if (!isFluxKustomization(c)) return;
    const spec = mapGet(c, 'spec');
    const post = mapGet(spec, 'postBuild');
    const from: FluxKustomization['from'] = [];
    const list = mapGet(post, 'substituteFrom');
    if (isSeq(list))
      for (const e of list.items) {
        const k = scalarText(mapGet(e, 'kind'));
        const n = scalarText(mapGet(e, 'name'));
        if ((k === 'ConfigMap' || k === 'Secret') && n) from.push({ kind: k, name: n });
      }
    const scope = fluxScope(file, scalarText(mapGet(spec, 'path')) ?? undefined);
    this.count++;
    this.kustomizations.push({ file, name, namespace, scope: scope === null ? '\0' : scope, substitute: pairs(mapGet(post, 'substitute')), from });
    this.linked = undefined;
  }

  /** Every setting of a variable, each Kustomization's own and the ConfigMaps' (Secrets') it names, in the order seen. */
  settings(): FluxSetting[] {
    if (this.linked) return this.linked;
    const out: FluxSetting[] = [];
    for (const k of this.kustomizations) {
      const by = `${k.file} Kustomization/${k.name}`;
      for (const s of k.substitute) out.push({ ...s, file: k.file, by: `${by} postBuild.substitute`, scope: k.scope });
      for (const f of k.from)
        for (const src of this.sources.get(`${f.kind}/${f.name}`) ?? []) {
          // Flux reads substituteFrom in the Kustomization's own namespace: an object written in
          // another is not the one (either namespace unwritten — set by an overlay — may be).
          if (src.namespace && k.namespace && src.namespace !== k.namespace) continue;
          if (out.length + src.entries.length > MAX_SETTINGS) throw tooManySettings(k.file, `${f.kind}/${f.name}`, src.file);
          for (const s of src.entries) out.push({ ...s, file: src.file, by: `${by} postBuild.substituteFrom ${f.kind}/${f.name} (${src.file})`, scope: k.scope });
        }
    }
    return (this.linked = out);
  }

  /**
   * The settings that apply to a file, by variable: the Kustomizations whose `spec.path` holds it,
   * or a kustomization that builds it (`builtFrom`). Files held by the same scopes share one map
   * (read-only): a tree of many files costs one pass over the settings per set of scopes, not per file.
   */
  settingsFor(file: string, builtFrom: readonly string[] = []): ReadonlyMap<string, FluxSetting[]> {
    const abs = path.resolve(file);
    const scopes = this.byScope();
    const held = [...scopes.keys()].filter((scope) => scope === undefined || isWithin(abs, scope) || builtFrom.some((d) => isWithin(d, scope)));
    const key = held.map((s) => (s === undefined ? '' : `/${s}`)).join('\0');
    let out = this.forScopes.get(key);
    if (out) return out;
    out = new Map<string, FluxSetting[]>();
    const heldSet = new Set(held);
    for (const s of this.settings()) {
      if (!heldSet.has(s.scope)) continue;
      const list = out.get(s.name) ?? [];
      list.push(s);
      out.set(s.name, list);
    }
    this.forScopes.set(key, out);
    return out;
  }

  /** The distinct scopes of the settings (undefined: every file). */
  private byScope(): Map<string | undefined, true> {
    if (this.scopes && this.linked) return this.scopes;
    this.forScopes.clear();
    this.scopes = new Map(this.settings().map((s) => [s.scope, true] as const));
    return this.scopes;
  }
}

/** At most this many ways one value with Flux variables is read (each variable set to several values in the scan). */
export const MAX_FLUX_WAYS = 16;

/** One way Flux substitutes a value: `value` interpolated; `unresolved` set nowhere, `unknown` set where unreadable. */
export interface FluxWay {
  value: string;
  /** The value with the unreadable variables left in (their defaults do not apply): what is known of it. */
  shown: string;
  unresolved: string[];
  unknown: string[];
  /** `${X}=value (where)` for each variable filled in. */
  by: string[];
}

/**
 * The Flux post-build substitutions of a scan (FluxVariables) asked per file: the settings that
 * apply to it are derived once per set of Kustomizations holding it (copied per file, 98 000
 * settings over 2 000 files took minutes and gigabytes), and a value is read every way the scan
 * sets its variables, up to MAX_FLUX_WAYS.
 */
export class FluxSubstitutions {
  private readonly byFile = new Map<string, { vars: Map<string, Map<string, string>>; unreadable: Map<string, string> }>();
  private readonly derived = new WeakMap<ReadonlyMap<string, FluxSetting[]>, { vars: Map<string, Map<string, string>>; unreadable: Map<string, string> }>();
  constructor(
    private readonly flux: FluxVariables,
    private readonly builtFrom: (file: string) => readonly string[],
  ) {}

  /** Each variable's values in the order first seen, for this file, and why a setting's value cannot be read. */
  varsOf(file: string): { vars: Map<string, Map<string, string>>; unreadable: Map<string, string> } {
    let known = this.byFile.get(file);
    if (known) return known;
    const settings = this.flux.settingsFor(file, this.builtFrom(file));
    known = this.derived.get(settings);
    if (known) return this.byFile.set(file, known), known;
    known = { vars: new Map(), unreadable: new Map() };
    this.byFile.set(file, known);
    this.derived.set(settings, known);
    for (const [k, list] of settings) {
      const set = new Map<string, string>();
      for (const s of list) {
        if (s.unreadable) {
          if (!known.unreadable.has(k)) known.unreadable.set(k, `\${${k}} in ${s.by}: ${s.unreadable}`);
        } else if (!set.has(s.value)) set.set(s.value, s.by);
      }
      known.vars.set(k, set);
    }
    return known;
  }

  /** Every way Flux substitutes `written` in `file` (`${VAR:=default}` read as `${VAR:-default}`). */
  ways(file: string, written: string): FluxWay[] {
    const expr = written.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*):=/g, '${$1:-');
    const names = [...new Set([...expr.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]))];
    let ways: Array<{ env: Map<string, string>; by: string[]; unknown: string[] }> = [{ env: new Map(), by: [], unknown: [] }];
    const { vars, unreadable } = this.varsOf(file);
    for (const n of names) {
      const set = vars.get(n);
      if (!set) continue;
      const hidden = unreadable.get(n);
      // Cut at MAX_FLUX_WAYS as they are made: a variable set thousands of ways costs no more.
      const next: typeof ways = [];
      outer: for (const w of ways) {
        for (const [value, by] of set) {
          if (next.length >= MAX_FLUX_WAYS) break outer;
          next.push({ env: new Map([...w.env, [n, value]]), by: [...w.by, `\${${n}}=${value} (${by})`], unknown: w.unknown });
        }
        if (hidden !== undefined && next.length < MAX_FLUX_WAYS) next.push({ ...w, unknown: [...w.unknown, hidden] });
      }
      ways = next;
    }
    return ways.map((w) => {
      const { value, unresolved } = interpolateCompose(expr, w.env);
      const shown = w.unknown.length ? interpolateCompose(expr.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*):?-[^}]*\}/g, '${$1}'), w.env).value : value;
      return { value, shown, unresolved, unknown: w.unknown, by: w.by };
    });
  }
}

/** Why a way of a value is not known: the variables set nowhere (no default), and those set where unreadable. */
export function fluxUnknownWhy(w: FluxWay): string {
  return [
    ...(w.unresolved.length && !w.unknown.length ? [`${w.unresolved.map((u) => `\${${u}}`).join(', ')} set by no Flux Kustomization postBuild.substitute (or substituteFrom ConfigMap) in the scan whose spec.path holds this file, and by no default`] : []),
    ...w.unknown.map((u) => `${u}, so its value is unknown`),
  ].join('; ');
}

/** The Flux variables of the scan's YAML files that may set them (Kustomizations, ConfigMaps, Secrets). */
export function fluxVariablesOf(files: readonly ScannedFile[]): FluxVariables {
  const flux = new FluxVariables();
  for (const f of files) {
    if (f.type !== 'yaml' || f.text === undefined || (!f.text.includes('postBuild') && !f.text.includes('ConfigMap') && !f.text.includes('Secret'))) continue;
    for (const doc of withoutStackTraces(() => parseHostileDocuments(f.text!, { duplicates: 'last-wins' }))) if (!doc.errors.length) flux.add(doc, f.file);
  }
  return flux;
}
