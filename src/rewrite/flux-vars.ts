import type { Scalar } from 'yaml';
import { interpolateCompose } from '../audit/compose-env.js';
import type { FluxSetting } from '../audit/flux.js';
import { parseImageReference, referenceName, withDefaultTag } from '../oci/reference.js';
import type { RewriteContext } from './context.js';
import type { Replacement, TextEdit, Unmapped } from './edits.js';
import { scalarEdit } from './yaml-text.js';

/**
 * A container image written with Flux post-build variables (`ghcr.io/acme/app:${TAG}`,
 * `${REGISTRY}/app:${TAG:=1.2}`). kustomize-controller substitutes `${VAR}` (and the defaults
 * `${VAR:=default}`, `${VAR:-default}`, as envsubst reads them) from the Kustomization's
 * `postBuild.substitute` and the ConfigMaps/Secrets its `substituteFrom` names.
 *
 * - Variables only in the tag (or digest), the repository written out: the repository moves to
 *   the mirror's, the variables stay; every value the settings (or the default) give must be
 *   carried, else the image is left and each missing value named.
 * - One variable in front of the repository (`${REGISTRY}/app`): that variable moves. Set in the
 *   scan, the value is changed where it is set (`FluxVarChange`, applied once every image sharing
 *   it is known: `settleFluxChanges`); set nowhere, its default is rewritten in place.
 * - Variables inside the repository path after a written head (`ghcr.io/${ORG}/app`): the head
 *   moves when the mirror holds every value's image as one new head and the rest as substituted.
 * Anything else (variables at the front of the path, one set nowhere with no default) is left as
 * written, named.
 */
export interface FluxVarChange {
  setting: FluxSetting;
  /** The value the setting must have; undefined: an image sharing it cannot move (named in `blocked`). */
  value?: string;
  blocked?: string;
  image: { file: string; line: number; where: string; written: string };
}

interface Token {
  start: number;
  end: number;
  name: string;
  op?: string;
  arg?: string;
}

/** The `${NAME}`, `${NAME:=x}`, `${NAME:-x}`, `${NAME=x}`, `${NAME-x}` of an image value; undefined when another `$` form is in it. */
function tokens(value: string): Token[] | undefined {
  const out: Token[] = [];
  const re = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-=])([^${}]*))?\}/g;
  let last = 0;
  for (const m of value.matchAll(re)) {
    if (value.slice(last, m.index).includes('$')) return undefined;
    out.push({ start: m.index!, end: m.index! + m[0].length, name: m[1], op: m[2], arg: m[3] });
    last = m.index! + m[0].length;
  }
  return value.slice(last).includes('$') ? undefined : out;
}

const MAX_WAYS = 16;

export function fluxImage(
  node: Scalar,
  value: string,
  at: { file: string; text: string; line: number; where: string },
  ctx: RewriteContext,
  settings: ReadonlyMap<string, FluxSetting[]>,
  out: { edits: TextEdit[]; replacements: Replacement[]; unmapped: Unmapped[]; changes: FluxVarChange[] },
): void {
  const { file, line, where } = at;
  const toks = tokens(value);
  const names = [...new Set([...value.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]))];
  const refuse = (reason: string) => out.unmapped.push({ file, line, kind: 'image', ref: value, reason, where });
  const setHint = `set it in a Flux Kustomization's postBuild.substitute or the ConfigMap its substituteFrom names, or give it a default (\${NAME:=value})`;
  if (!toks || !toks.length) return void refuse(`a variable (${names.map((v) => `\${${v}}`).join(', ')}) ferry does not read (Flux's postBuild substitution reads \${NAME}, \${NAME:=default}); ${setHint}`);
  // Where the tag (or digest) starts, the variables blanked out (a default may hold `:` or `/`).
  const skeleton = toks.reduceRight((s, t) => s.slice(0, t.start) + '\u0001'.repeat(t.end - t.start) + s.slice(t.end), value);
  const slash = skeleton.lastIndexOf('/');
  const atSign = skeleton.indexOf('@');
  const colon = skeleton.indexOf(':', slash + 1);
  const nameEnd = atSign >= 0 ? atSign : colon >= 0 ? colon : value.length;
  const inName = toks.filter((t) => t.start < nameEnd);
  // A variable that is set, or has a default: its values (settings in the scope of this file first).
  const valuesOf = (t: Token): Array<{ value: string; setting?: FluxSetting }> | undefined => {
    const set = settings.get(t.name);
    if (set?.length) {
      const seen = new Map<string, FluxSetting>();
      for (const s of set) if (!seen.has(s.value) && seen.size < MAX_WAYS) seen.set(s.value, s);
      return [...seen].map(([v, s]) => ({ value: v === '' && t.op?.startsWith(':') ? t.arg! : v, setting: s }));
    }
    return t.op !== undefined ? [{ value: t.arg! }] : undefined;
  };
  const hidden = toks.flatMap((t) => settings.get(t.name)?.find((s) => s.unreadable) ?? []);
  if (hidden.length)
    return void refuse(`${hidden.map((s) => `\${${s.name}} in ${s.by}: ${s.unreadable}`).join('; ')}, so what is pulled is unknown to ferry: set the mirror's value there yourself, or move the variable to a value ferry can read`);
  const unknown = toks.filter((t) => !valuesOf(t));
  if (unknown.length)
    return void refuse(`${unknown.map((t) => `\${${t.name}}`).join(', ')} set by no Flux Kustomization in the scan whose spec.path holds this file, and by no default, so what is pulled is unknown: ${setHint}`);
  // `${REGISTRY}/app`: the variable names the registry; otherwise variables inside the path
  // (`ghcr.io/${ORG}/app`), where only the literal head before them can move.
  const leading = inName.length === 1 && inName[0].start === 0 && value[inName[0].end] === '/';
  const head = value.slice(0, inName.length ? inName[0].start : 0);
  if (inName.length && !leading && !head)
    return void refuse(`variables (${inName.map((t) => `\${${t.name}}`).join(', ')}) at the front of its repository path: ferry moves an image whose repository is written out, whose registry is one variable in front of it (\${REGISTRY}/app), or whose written head is followed by variables (ghcr.io/\${ORG}/app); write it so`);
  // Each way it is pulled (the tag variables' values, and the registry's), at most MAX_WAYS.
  const lookups: Array<{ env: Map<string, string>; by: string[]; registry?: { value: string; setting?: FluxSetting }; ref: string; look: ReturnType<RewriteContext['lookupImage']> }> = [];
  let ways: Array<{ env: Map<string, string>; by: string[]; registry?: { value: string; setting?: FluxSetting } }> = [{ env: new Map(), by: [] }];
  for (const t of toks) {
    const next: typeof ways = [];
    for (const w of ways) for (const v of valuesOf(t)!) if (next.length < MAX_WAYS) next.push({ env: new Map([...w.env, [t.name, v.value]]), by: [...w.by, `\${${t.name}}=${v.value} (${v.setting ? v.setting.by : 'its default'})`], registry: inName[0] === t ? v : w.registry });
    ways = next;
  }
  const expr = value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*):=/g, '${$1:-');
  for (const w of ways) {
    const ref = interpolateCompose(expr, w.env).value;
    let look: ReturnType<RewriteContext['lookupImage']>;
    try {
      look = ctx.lookupImage(withDefaultTag(parseImageReference(ref)));
    } catch {
      look = { status: 'unmapped', reason: 'not a valid image reference once substituted' };
    }
    lookups.push({ ...w, ref, look });
  }
  const missing = lookups.filter((l) => l.look.status === 'unmapped');
  if (missing.length) {
    for (const m of missing) refuse(`pulled as ${m.ref} (Flux substitutes ${m.by.join(', ')}): ${m.look.status === 'unmapped' ? m.look.reason : ''}`);
    // A registry variable it shares with other images must not move for them alone.
    if (inName.length) for (const l of lookups) if (l.registry?.setting) out.changes.push({ setting: l.registry.setting, blocked: `${file}:${line} ${value} is pulled as ${missing[0].ref}, which the lock lacks`, image: { file, line, where, written: value } });
    return;
  }
  if (lookups.every((l) => l.look.status === 'mirror')) return;
  const mirrorName = (l: (typeof lookups)[number]) => (l.look.status === 'mapped' ? `${l.look.mirrorRef.registry}/${l.look.mirrorRef.repository}` : undefined);
  if (inName.length && !leading) {
    // The written head moves when, for every value, the mirror holds the image as a new head
    // followed by the rest as substituted (a mirror that keeps the upstream path below a prefix).
    const heads = new Set<string>();
    for (const l of lookups) {
      const name = referenceName(l.ref);
      const to = mirrorName(l) ?? name;
      const rest = name.startsWith(head) ? name.slice(head.length) : undefined;
      if (rest === undefined || !to.endsWith(rest)) return void refuse(`pulled as ${l.ref}, which the mirror holds as ${to}: a variable inside its repository path (${inName.map((t) => `\${${t.name}}`).join(', ')}) moves only when the mirror keeps the path after ${head}; write the repository out`);
      heads.add(to.slice(0, to.length - rest.length));
    }
    if (heads.size !== 1) return void refuse(`its values are on the mirror under different heads (${[...heads].join(', ')}) for the variables inside its repository path: write the repository out`);
    const [to] = heads;
    const next = to + value.slice(head.length);
    if (next === value) return;
    out.edits.push(scalarEdit(node, next, at.text));
    out.replacements.push({ file, line, kind: 'image', old: value, new: next, where: `${where} (Flux substitutes ${toks.map((t) => `\${${t.name}}`).join(', ')}: each value checked, the variables kept)` });
    return;
  }
  if (!inName.length) {
    // The repository written out: it moves; the tag variables stay.
    const names = new Set(lookups.map(mirrorName).filter((n) => n !== undefined));
    if (names.size !== 1) return void refuse(`its tag values are carried under different mirror repositories (${[...names].join(', ')}): give each its own image`);
    const [to] = names;
    const next = to + value.slice(nameEnd);
    out.edits.push(scalarEdit(node, next, at.text));
    out.replacements.push({ file, line, kind: 'image', old: value, new: next, where: `${where} (Flux substitutes ${toks.map((t) => `\${${t.name}}`).join(', ')}: each value checked, the variables kept)` });
    return;
  }
  // `${REGISTRY}/app…`: the variable's new value is the mirror's name less what is written after it.
  const rest = value.slice(inName[0].end, nameEnd);
  const t = inName[0];
  const fromDefault: string[] = [];
  for (const l of lookups) {
    const to = mirrorName(l) ?? l.registry!.value + rest;
    if (!to.endsWith(rest)) return void refuse(`the mirror holds it as ${to}, which does not end in ${rest}: \${${t.name}} cannot name it`);
    const v = to.slice(0, to.length - rest.length);
    if (l.registry!.setting) out.changes.push({ setting: l.registry!.setting, value: v, image: { file, line, where, written: value } });
    else fromDefault.push(v);
  }
  if (fromDefault.length) {
    const next = value.slice(0, t.start) + `\${${t.name}${t.op}${fromDefault[0]}}` + value.slice(t.end);
    if (next === value) return;
    out.edits.push(scalarEdit(node, next, at.text));
    out.replacements.push({ file, line, kind: 'image', old: value, new: next, where: `${where} (the default of \${${t.name}}, set by no Flux Kustomization in the scan)` });
  }
}

/**
 * The value changes the images ask of each setting: made where every image sharing it asks the
 * same value; else none, each image named (one variable cannot point two ways).
 */
export function settleFluxChanges(changes: readonly FluxVarChange[], text: (file: string) => string, lineOf: (file: string, offset: number) => number, out: { edits: Map<string, TextEdit[]>; replacements: Replacement[]; unmapped: Unmapped[] }): void {
  const bySetting = new Map<Scalar, FluxVarChange[]>();
  for (const c of changes) {
    const list = bySetting.get(c.setting.node) ?? [];
    list.push(c);
    bySetting.set(c.setting.node, list);
  }
  for (const list of bySetting.values()) {
    const s = list[0].setting;
    const values = new Set(list.filter((c) => c.value !== undefined).map((c) => c.value!));
    const blocked = list.filter((c) => c.blocked).map((c) => c.blocked!);
    const moving = list.filter((c) => c.value !== undefined && c.value !== s.value);
    if (!moving.length) continue;
    const images = (cs: FluxVarChange[]) => [...new Set(cs.map((c) => `${c.image.file}:${c.image.line} ${c.image.written}${c.value !== undefined ? ` (needs ${c.value})` : ''}`))].join('; ');
    if (blocked.length || values.size > 1) {
      const why = blocked.length ? `an image sharing it cannot move (${[...new Set(blocked)].join('; ')})` : `the images sharing it would need different values: ${images(list)}`;
      for (const c of moving) out.unmapped.push({ file: c.image.file, line: c.image.line, kind: 'image', ref: c.image.written, reason: `\${${s.name}}=${s.value} (${s.by}) left as it is: ${why}; give them separate variables`, where: c.image.where });
      continue;
    }
    const [v] = values;
    const edits = out.edits.get(s.file) ?? [];
    edits.push(scalarEdit(s.node, s.encoding === 'base64' ? Buffer.from(v, 'utf8').toString('base64') : v, text(s.file)));
    out.edits.set(s.file, edits);
    out.replacements.push({ file: s.file, line: lineOf(s.file, s.node.range![0]), kind: 'registry', old: s.value, new: v, where: `\${${s.name}} (${s.by}${s.encoding === 'base64' ? ', written base64-encoded' : ''}), for ${images(moving)}` });
  }
}
