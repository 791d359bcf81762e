import { pathLengthProblem } from '../store/safe-path.js';
import { chartNameProblems } from './index.js';

/** Where a source goes under a mirror directory, or why it has no place of its own there. */
/** `own`: the path alone is at fault (too long), whatever else the tree holds. */
export type TreePlace = { path: string } | { problem: string; clash?: string; own?: boolean };

/**
 * What one mirror directory holds, path by path, each path claimed by one source: the mapping
 * (mirrorUrlPath: host + decoded path; `<chart>-<version>.tgz`) is not one-to-one, so two
 * sources can land on one path, and a path can be a leaf for one source (a file, a repository's
 * root) and a directory on the way to another's. One source per path (two claims with the same
 * `key` are one: the same URL, the same archive bytes), and no leaf inside another: otherwise one
 * would silently replace the other (and rewrite point both at it), or an import would fail
 * halfway. Lock, import and serve place through one of these, so each refuses what the others would.
 */
export class MirrorTree {
  /** Leaf path → who claimed it, and its identity. */
  private readonly leaves = new Map<string, { owner: string; key: string }>();
  /** Directory path → one source under it. */
  private readonly dirs = new Map<string, string>();

  /**
   * `noun`: what a leaf is (`file`, `chart archive`, `APT repository`); `why`: what the mapping
   * does that makes two sources one path (said when they clash).
   */
  constructor(
    private readonly noun: string,
    private readonly why = '',
  ) {}

  /**
   * Claim `p` (a plain relative path, relative to the mirror directory) for `owner` (named in
   * problems) whose content is `key`: the problem when the path is too long to be written, is
   * another source's, is the directory of another's, or lies inside another's leaf.
   */
  place(owner: string, p: string, key = owner): TreePlace {
    const bad = pathLengthProblem(p);
    if (bad) return { problem: bad, own: true };
    const there = this.leaves.get(p);
    if (there && there.key === key) return { path: p };
    if (there) {
      return { problem: `${clip(there.owner)} maps to the same mirror path ${clip(p)}; only one ${this.noun} can be there${this.why ? ` (${this.why})` : ''}`, clash: p };
    }
    const under = this.dirs.get(p);
    if (under !== undefined) return { problem: `its mirror path ${clip(p)} is the directory of ${clip(under)}; it cannot be a ${this.noun} too` };
    const segments = p.split('/');
    for (let i = 1; i < segments.length; i++) {
      const dir = segments.slice(0, i).join('/');
      const leaf = this.leaves.get(dir);
      if (leaf !== undefined) return { problem: `its mirror path ${clip(p)} needs ${clip(dir)} to be a directory, where ${clip(leaf.owner)} is a ${this.noun}` };
    }
    this.leaves.set(p, { owner, key });
    for (let i = 1; i < segments.length; i++) {
      const dir = segments.slice(0, i).join('/');
      if (!this.dirs.has(dir)) this.dirs.set(dir, owner);
    }
    return { path: p };
  }

  /** Whether nothing has claimed `p` or anything under it (ferry may put a file of its own there). */
  isFree(p: string): boolean {
    return !this.leaves.has(p) && !this.dirs.has(p);
  }
}

export function clip(s: string): string {
  return s.length > 160 ? `${s.slice(0, 120)}…(${s.length} characters)` : s;
}

/** A chart as a lock pins it: enough to place its archive (and provenance) on a flat chart repository. */
export interface PinnedChart {
  name: string;
  version: string;
  repo: string;
  digest: string;
  prov?: { digest: string };
}

/**
 * The charts of one lock that cannot share a target's `charts.dir`: two repositories' charts of
 * one name and version with different bytes (or provenance) map to one `<name>-<version>.tgz`,
 * which import refuses (the same MirrorTree, placed with the chart's own name and version). One
 * line per clash, naming both repositories. The same bytes from two repositories are one archive.
 */
export function chartArchiveClashes(charts: readonly PinnedChart[]): string[] {
  const tree = new MirrorTree('chart archive', 'a chart repository is flat: <name>-<version>.tgz, whichever repository it came from');
  const out: string[] = [];
  for (const c of charts) {
    // A name or version that is no file name is refused on its own (mapChartHttp): not a clash.
    const file = `${c.name}-${c.version}.tgz`;
    if (chartNameProblems(c.name, c.version).length) continue;
    for (const [p, digest] of [[file, c.digest], ...(c.prov ? [[`${file}.prov`, c.prov.digest] as const] : [])] as const) {
      const placed = tree.place(`${c.repo} (${digest.slice(0, 19)}…)`, p, digest);
      if ('problem' in placed && placed.clash) out.push(`chart ${c.name} ${c.version} from ${clip(c.repo)} (${digest.slice(0, 19)}…): ${placed.problem}`);
    }
  }
  return out;
}
