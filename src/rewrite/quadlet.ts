import path from 'node:path';
import { isShortName, kubeYamlPath, podmanShortName, quadletImages, quadletKubeYamls, type PodmanConfig } from '../audit/podman.js';
import { parseImageReference, withDefaultTag } from '../oci/reference.js';
import type { RewriteContext } from './context.js';
import type { Replacement, TextEdit, Unmapped } from './edits.js';

/**
 * A Quadlet unit's `Image=` lines (`.container`, `.image`, `.volume`; podman-systemd.unit(5))
 * pointed at the mirror, every other byte kept. A short name (`Image=nginx:1.25`) is left and
 * reported: podman resolves it through the host's registries.conf (aliases, then
 * unqualified-search-registries), which decides the registry; ferry does not guess docker.io.
 */
export function rewriteQuadletUnit(file: string, text: string, ctx: RewriteContext, host?: PodmanConfig): { edits: TextEdit[]; replacements: Replacement[]; unmapped: Unmapped[] } {
  const out = { edits: [] as TextEdit[], replacements: [] as Replacement[], unmapped: [] as Unmapped[] };
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  for (const r of quadletImages(file, text).refs) {
    const where = `${r.podman!.unit} [${r.keyPath!.replace(/\.Image$/, '')}] Image=`;
    // A short name is pulled as the host's registries.conf resolves it, when it is among the files
    // given (an alias, or the one unqualified-search registry); otherwise its registry is unknown.
    let pulled = r.value;
    if (isShortName(r.value)) {
      const got = host ? podmanShortName(host, r.value, false) : undefined;
      if (!got || 'unknown' in got) {
        const reason = got
          ? got.unknown
          : "a short name: podman resolves it through the host's registries.conf (short-name aliases, then unqualified-search-registries), so its registry is not written here; write the fully qualified name (<registry>/<repository>:<tag>, the one podman resolves it to on the host), or give the host's registries.conf to rewrite with the units, and rewrite again";
        out.unmapped.push({ file, line: r.line, kind: 'image', ref: r.value, where, reason });
        continue;
      }
      pulled = got.value;
    }
    let look;
    try {
      look = ctx.lookupImage(withDefaultTag(parseImageReference(pulled)));
    } catch {
      out.unmapped.push({ file, line: r.line, kind: 'image', ref: r.value, where, reason: 'not a valid image reference' });
      continue;
    }
    if (look.status === 'mirror') continue;
    if (look.status === 'unmapped') {
      out.unmapped.push({ file, line: r.line, kind: 'image', ref: r.value, where, reason: look.reason });
      continue;
    }
    // The value on its line, after `Image=` (quotes kept as written).
    const lineStart = starts[r.line - 1];
    const lineEnd = r.line < starts.length ? starts[r.line] - 1 : text.length;
    const line = text.slice(lineStart, lineEnd);
    const at = line.indexOf(r.value, line.indexOf('=') + 1);
    if (at < 0) continue;
    out.edits.push({ start: lineStart + at, end: lineStart + at + r.value.length, text: look.mirror });
    out.replacements.push({ file, line: r.line, kind: look.digestChanged ? 'digest' : 'image', old: r.value, new: look.mirror, where: pulled === r.value ? where : `${where} (pulled as ${pulled})` });
  }
  return out;
}

/**
 * A `.kube` unit's `Yaml=` file is what podman pulls (`podman kube play`): it is rewritten as any
 * Kubernetes YAML when it is among the files rewritten; one that is not (elsewhere, or outside the
 * tree: relative to the unit's directory, or absolute on its host) is reported, never followed
 * out of what was given.
 */
/** Each `Yaml=` of a unit with the file it leads to (kubeYamlPath, from the unit's absolute path), or why it leads nowhere. */
export function unitKubeYamls(file: string, text: string): Array<{ line: number; value: string; at: ReturnType<typeof kubeYamlPath> }> {
  const unit = path.resolve(file);
  return quadletKubeYamls(text).map((y) => ({ ...y, at: kubeYamlPath(unit, y.value) }));
}

export function kubeYamlsNotGiven(file: string, text: string, given: ReadonlySet<string>): Unmapped[] {
  return unitKubeYamls(file, text).flatMap(({ at, ...y }) => {
    if (!('outside' in at) && given.has(path.resolve(at.file))) return [];
    const why = 'outside' in at ? at.outside : `${at.file} is not among the paths given`;
    return [{ file, line: y.line, kind: 'image' as const, ref: `Yaml=${y.value}`, where: `${path.basename(file)} [Kube] Yaml=`, reason: `the Kubernetes YAML podman kube play runs, and ${why}: its images are not rewritten; give it to rewrite manifests with the unit` }];
  });
}
