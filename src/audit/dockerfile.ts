import path from 'node:path';
import { isMap, isScalar, isSeq, type Document, type Node as YamlNode } from 'yaml';
import { formatImageReference, parseImageReference, withDefaultTag } from '../oci/reference.js';
import { readRegularFile } from '../store/verified-write.js';
import { mergedField, resolveAlias } from './kustomize.js';
import { IMAGE_ANY_RE, MAX_BYTES, MAX_TOTAL_BYTES, type Reference } from './scan.js';
import { interpolateWith, type ComposeEnvs, type ComposeEnv } from './var-scalars.js';

/** A Dockerfile or Containerfile by its name: `FROM` there is an image pulled at build time. */
export const DOCKERFILE_NAME = /(?:^|[/\\])(?:Dockerfile|Containerfile)(?:\.[^/\\]*)?$|\.(?:dockerfile|containerfile)$/i;

/**
 * `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME-default}` of `token` replaced from `args`
 * (`${…}` only up to the last `}`: past it none can close, and trying each to the end was quadratic).
 */
export function withBuildArgs(token: string, args: ReadonlyMap<string, string>): string {
  const close = token.lastIndexOf('}') + 1;
  const arg = (all: string, name: string, d?: string) => args.get(name) || d || all;
  return (
    token.slice(0, close).replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (all, a: string | undefined, d: string | undefined, b: string | undefined) => arg(all, (a ?? b)!, d)) +
    token.slice(close).replace(/\$([A-Za-z_][A-Za-z0-9_]*)/g, (all, b: string) => arg(all, b))
  );
}

/** A `FROM` line: the image token as written, and the image the builder pulls (none: `scratch`, an earlier stage, not an image). */
export interface DockerfileFrom {
  token: string;
  image?: string;
}

function dockerfileFrom(raw: string, args: Map<string, string>, stages: Set<string>): DockerfileFrom | undefined {
  const m = /^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i.exec(raw);
  if (!m) return undefined;
  const token = m[1];
  const value = withBuildArgs(token, args);
  if (m[2]) stages.add(m[2].toLowerCase());
  // Unresolved (a build argument given only at build time): the image as written, never nothing.
  if (value.includes('$')) return { image: token, token };
  if (value.toLowerCase() === 'scratch' || stages.has(value.toLowerCase()) || !IMAGE_ANY_RE.test(value)) return { token };
  return { image: value, token };
}

/**
 * Each `FROM` line of a Dockerfile (by line number) as the builder reads it: `$NAME`, `${NAME}` and
 * `${NAME:-default}` from the `ARG`s above it, each its default unless `buildArgs` (what a build
 * passes, `--build-arg` or a Compose `build.args`) sets a name an `ARG` declares; as written while
 * any stays unresolved. A bare name (`FROM ubuntu`) counts, `scratch` and earlier stage names do not.
 */
export function dockerfileFroms(text: string, buildArgs?: ReadonlyMap<string, string>): Map<number, DockerfileFrom> {
  const args = new Map<string, string>();
  const stages = new Set<string>();
  const out = new Map<number, DockerfileFrom>();
  text.split('\n').forEach((raw, i) => {
    const arg = /^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(["']?)([^"'\s]*)\2)?\s*$/i.exec(raw);
    if (arg) {
      const given = buildArgs?.get(arg[1]);
      if (given !== undefined) args.set(arg[1], given);
      else if (arg[3] !== undefined) args.set(arg[1], arg[3]);
    }
    const from = dockerfileFrom(raw, args, stages);
    if (from) out.set(i + 1, from);
  });
  return out;
}

/** A Compose service's `build:` (compose-spec build.md): the Dockerfile it builds and the `args` it passes, as written. */
export interface ComposeBuild {
  /** The Compose file (scan-relative) and the line of the `build:` value. */
  from: string;
  line: number;
  service: string;
  context: string;
  dockerfile?: string;
  /** `NAME: value` / `NAME=value`; a name alone (`- NAME`) takes its value from the project environment. */
  args: Array<{ name: string; value?: string }>;
  /** The service's `image:` (the name the build is tagged with) and `pull_policy:`, as written. */
  image?: string;
  pullPolicy?: string;
}

/** At most this many builds are read from one Compose document, and this many args of one build. */
const MAX_BUILDS_PER_FILE = 256;
const MAX_BUILD_ARGS = 256;

/**
 * The `build:` of each service of a Compose document (a context string, or a map with `context`,
 * `dockerfile` and `args`, merge keys `<<` followed): what the scan's Dockerfile there is built with.
 * An inline Dockerfile (`dockerfile_inline`) builds no file of the scan: left out.
 */
export function composeBuildsOf(doc: Document, from: string, lineOf: (n: YamlNode) => number): ComposeBuild[] {
  const out: ComposeBuild[] = [];
  const services = isMap(doc.contents) ? doc.contents.get('services', true) : undefined;
  if (!isMap(services)) return out;
  const str = (n: unknown) => (isScalar(n) && typeof n.value === 'string' ? n.value : undefined);
  for (const s of services.items) {
    if (out.length >= MAX_BUILDS_PER_FILE) break;
    const build = resolveAlias(mergedField(resolveAlias(s.value, doc), 'build', doc), doc);
    const service = isScalar(s.key) ? String(s.key.value) : '?';
    const image = str(resolveAlias(mergedField(resolveAlias(s.value, doc), 'image', doc), doc));
    const pullPolicy = str(resolveAlias(mergedField(resolveAlias(s.value, doc), 'pull_policy', doc), doc));
    const tagged = { ...(image ? { image } : {}), ...(pullPolicy ? { pullPolicy } : {}) };
    if (isScalar(build)) {
      const context = str(build);
      if (context) out.push({ from, line: lineOf(build as YamlNode), service, context, args: [], ...tagged });
      continue;
    }
    if (!isMap(build) || mergedField(build, 'dockerfile_inline', doc) !== undefined) continue;
    const context = str(resolveAlias(mergedField(build, 'context', doc), doc)) ?? '.';
    const dockerfile = str(resolveAlias(mergedField(build, 'dockerfile', doc), doc));
    const written = resolveAlias(mergedField(build, 'args', doc), doc);
    const args: ComposeBuild['args'] = [];
    if (isMap(written)) {
      for (const p of written.items.slice(0, MAX_BUILD_ARGS)) {
        const v = resolveAlias(p.value, doc);
        if (isScalar(p.key)) args.push({ name: String(p.key.value), ...(isScalar(v) && v.value !== null ? { value: String(v.value) } : {}) });
      }
    } else if (isSeq(written)) {
      for (const x of written.items.slice(0, MAX_BUILD_ARGS)) {
        const v = str(resolveAlias(x, doc));
        if (v === undefined) continue;
        const eq = v.indexOf('=');
        args.push(eq < 0 ? { name: v } : { name: v.slice(0, eq), value: v.slice(eq + 1) });
      }
    }
    out.push({ from, line: lineOf(build as YamlNode), service, context, ...(dockerfile ? { dockerfile } : {}), args, ...tagged });
  }
  return out;
}

/** At most this many Dockerfiles Compose builds are read again in one scan. */
const MAX_BUILT_DOCKERFILES = 256;
/** At most this many distinct builds of one Dockerfile are told apart (one finding each); the rest are one unknown. */
const MAX_BUILDS_PER_DOCKERFILE = 16;

const marker = (name: string) => `\${${name}}`;
/** At most this many builds (and services of one) are named in a note. */
const MAX_NAMED = 4;
/**
 * At most this many FROM lines with a variable are read again for each build of one Dockerfile (a
 * real multi-stage one has a few dozen FROMs at most): a 320 KB Dockerfile of 20 000 such lines,
 * built by 64 services, took 5 s and 13 MB of report, and the time grows with both.
 */
const MAX_TEMPLATED_FROMS = 64;

/** The build args one build passes with one env, as Compose fills them in; `unknown` says why a value is not known here. */
function buildArgsWith(b: ComposeBuild, env: ComposeEnv): { args: Map<string, string>; by: string[]; unknown: string[] } {
  const args = new Map<string, string>();
  const by: string[] = [];
  const unknown: string[] = [];
  for (const a of b.args) {
    if (a.value === undefined) {
      // A name alone: Compose passes the project environment's value, none when it is unset (the Dockerfile's default applies).
      if (env.opaque || env.setUnknown?.has(a.name)) {
        args.set(a.name, marker(a.name));
        unknown.push(`build arg ${a.name}: ${env.opaque ?? env.why([a.name])}`);
      } else if (env.vars.get(a.name) !== undefined) {
        const v = env.vars.get(a.name)!;
        args.set(a.name, v);
        by.push(`${a.name}=${v} (${env.from})`);
      } else by.push(`${a.name} unset in the scan (${env.from}): the Dockerfile's default`);
      continue;
    }
    const { value, unresolved, tooLong } = interpolateWith(a.value, env);
    if (tooLong || unresolved.length) {
      args.set(a.name, marker(a.name));
      unknown.push(`build arg ${a.name}=${a.value}: ${tooLong ? 'too long once interpolated' : (env.opaque ?? env.why(unresolved))}`);
    } else {
      args.set(a.name, value);
      by.push(`${a.name}=${value}`);
    }
  }
  return { args, by, unknown };
}

/**
 * The Dockerfiles of the scan a Compose service builds (`build:` context and dockerfile, relative
 * to the Compose file's directory): each `FROM` with a variable is read again with the `args`
 * that build passes, filled in from the project environment (every way the scan runs the Compose
 * file), the Dockerfile's `ARG` defaults where the build sets none. One finding per distinct image
 * pulled, naming the builds; an arg whose value the scan does not know leaves the image as written
 * (host unknown), saying why. A Dockerfile no Compose file of the scan builds keeps its defaults.
 * Bounded: MAX_BUILT_DOCKERFILES files read, each within the scan's bound for a file, all within its total.
 */
export async function applyComposeBuilds(builds: readonly ComposeBuild[], envs: ComposeEnvs, scanned: ReadonlySet<string>, cwd: string, references: Reference[]): Promise<Array<{ file: string; reason: string; unscanned: boolean }>> {
  if (!builds.length) return [];
  const skipped = await fromBuilds(builds, envs, scanned, cwd, references);
  markLocalImages(builds, references);
  return skipped;
}

async function fromBuilds(builds: readonly ComposeBuild[], envs: ComposeEnvs, scanned: ReadonlySet<string>, cwd: string, references: Reference[]): Promise<Array<{ file: string; reason: string; unscanned: boolean }>> {
  const skipped: Array<{ file: string; reason: string; unscanned: boolean }> = [];
  const byFile = new Map<string, ComposeBuild[]>();
  for (const b of builds) {
    if (/^[a-z][a-z0-9+.-]*:\/\/|^git@/i.test(b.context) || b.context.includes('$') || b.dockerfile?.includes('$')) continue;
    const dir = path.posix.join(path.posix.dirname(b.from), b.context);
    const df = path.posix.normalize(b.dockerfile !== undefined && path.posix.isAbsolute(b.dockerfile) ? b.dockerfile : path.posix.join(dir, b.dockerfile ?? 'Dockerfile'));
    if (!scanned.has(df)) continue;
    const list = byFile.get(df) ?? [];
    if (!list.length && byFile.size >= MAX_BUILT_DOCKERFILES) continue;
    list.push(b);
    byFile.set(df, list);
  }
  let budget = MAX_TOTAL_BYTES;
  const more: Reference[] = [];
  const drop = new Set<string>();
  for (const [df, list] of byFile) {
    if (budget <= 0) break;
    const buf = await readRegularFile(path.resolve(cwd, df), Math.min(MAX_BYTES, budget), { follow: false });
    if (!Buffer.isBuffer(buf)) continue;
    budget -= buf.length;
    const text = buf.toString('utf8');
    const defaults = dockerfileFroms(text);
    const allTemplated = [...defaults].filter(([, f]) => f.token.includes('$'));
    if (!allTemplated.length) continue;
    const templated = allTemplated.slice(0, MAX_TEMPLATED_FROMS);
    if (allTemplated.length > templated.length)
      skipped.push({ file: df, reason: `more than ${MAX_TEMPLATED_FROMS} FROM lines with a variable, built by Compose services: those from line ${allTemplated[MAX_TEMPLATED_FROMS][0]} on are read with the Dockerfile's ARG defaults only, not with each build's args`, unscanned: false });
    // Each distinct set of args read once: the same Dockerfile was parsed again for every service building it.
    const fromsOf = new Map<string, Map<number, DockerfileFrom>>();
    // Each distinct build (its args as filled in): the image of each templated FROM, and who builds it so.
    const made = new Map<string, { line: number; token: string; image?: string; why: string[]; builds: Map<string, string[]> }>();
    const distinct = new Set<string>();
    for (const b of list) {
      for (const env of envs.ways(b.from)) {
        const { args, by, unknown } = buildArgsWith(b, env);
        const key = [...args].sort().join('\0');
        if (!distinct.has(key) && distinct.size >= MAX_BUILDS_PER_DOCKERFILE) continue;
        distinct.add(key);
        let froms = fromsOf.get(key);
        if (!froms) fromsOf.set(key, (froms = dockerfileFroms(text, args)));
        // Services sharing one build: (`<<: *defaults`) are named together.
        const site = `${b.from}:${b.line}${by.length ? ` with ${by.join(', ')}` : ''}`;
        for (const [line] of templated) {
          const f = froms.get(line)!;
          const k = `${line}\0${f.image ?? ''}`;
          const had = made.get(k) ?? { line, token: f.token, image: f.image, why: [] as string[], builds: new Map<string, string[]>() };
          const services = had.builds.get(site) ?? [];
          if (services.length || had.builds.size < MAX_NAMED) had.builds.set(site, [...services, b.service]);
          if (f.image?.includes('$')) for (const u of unknown) if (!had.why.includes(u) && had.why.length < 8) had.why.push(u);
          made.set(k, had);
        }
      }
    }
    // The references read with the defaults alone give way to those of the builds.
    for (const [line, f] of templated) if (f.image) drop.add(`${df}\0${line}\0${f.image}`);
    for (const m of made.values()) {
      if (!m.image) continue;
      const built = `built by ${[...m.builds].map(([site, services]) => `${services.length > 1 ? 'services' : 'service'} ${services.slice(0, MAX_NAMED).join(', ')}${services.length > MAX_NAMED ? ` and ${services.length - MAX_NAMED} more` : ''} of ${site}`).join('; ')}`;
      more.push({
        file: df,
        line: m.line,
        kind: 'image',
        value: m.image,
        provenance: m.image.includes('$') ? `${df}:${m.line} FROM ${m.token}, ${built}: ${m.why.join('; ') || 'a build argument no build sets and no ARG default gives'}` : `${df}:${m.line} FROM ${m.token}, ${built}: FROM ${m.image}`,
      });
    }
  }
  if (drop.size) {
    let at = 0;
    for (const r of references) if (r.kind !== 'image' || !drop.has(`${r.file}\0${r.line}\0${r.value}`)) references[at++] = r;
    references.length = at;
  }
  references.push(...more);
  return skipped;
}

/** An image reference as Docker names it (`app` is `docker.io/library/app:latest`); undefined: none. */
function imageName(s: string): string | undefined {
  try {
    return formatImageReference(withDefaultTag(parseImageReference(s)));
  } catch {
    return undefined;
  }
}

/**
 * An image a Compose service of the scan builds and never pulls (`build:` with `image:` and
 * `pull_policy: never` or `build`, compose-spec services.md "pull_policy"): its own `image:` is the
 * tag the build gives it, and a Dockerfile's `FROM` of it (getsentry/self-hosted's cron image
 * `FROM sentry-self-hosted-local`) takes it from the local image store once that build ran. Each
 * such reference is marked as built here, with the condition; without such a pull_policy Compose
 * pulls the image first (the reference stays).
 */
function markLocalImages(builds: readonly ComposeBuild[], references: Reference[]): void {
  const local = new Map<string, ComposeBuild>();
  for (const b of builds) {
    if (!b.image || b.image.includes('$') || !/^(?:never|build)$/.test(b.pullPolicy ?? '')) continue;
    const name = imageName(b.image);
    if (name && !local.has(name)) local.set(name, b);
  }
  if (!local.size) return;
  for (const r of references) {
    if (r.kind !== 'image' || r.inCluster) continue;
    const b = local.get(imageName(r.value) ?? '');
    if (!b) continue;
    const by = `${b.from}:${b.line} service ${b.service} (build: ${b.context}, pull_policy: ${b.pullPolicy})`;
    if (r.file === b.from && r.keyPath === `services.${b.service}.image`) r.inCluster = `not pulled: Compose builds it from ${b.context} (pull_policy: ${b.pullPolicy}) and tags it ${b.image}`;
    else if (DOCKERFILE_NAME.test(r.file)) r.inCluster = `the image ${by} builds: the builder takes it from the local image store once that build ran (run it first: if it has not, the builder asks ${r.value.includes('/') ? 'its registry' : 'Docker Hub'} for ${r.value})`;
  }
}
