/**
 * `rewrite manifests` for images a tree of values composes from a bare name and the hub and tag
 * around it (audit/handed-images.ts joinedImages: istiod's injector values, `global.hub` +
 * `global.tag` + `global.proxy.image: proxyv2`). The name is no image of its own: the hub is what
 * moves, to the mirror's place for every image joined to it, when the lock carries each of them
 * and the mirror keeps them under one prefix; otherwise the hub stays and each image the mirror
 * lacks is named. A name whose hub or tag cannot be known is named with the reason.
 */
import type { Document, Scalar } from 'yaml';
import { joinedImages, MAX_JOINED_IMAGES, YAML_JOIN_TREE, type JoinedImage } from '../audit/handed-images.js';
import type { RewriteContext } from './context.js';
import type { Replacement, TextEdit, Unmapped } from './edits.js';
import { mirrorPlaces } from './values-images.js';
import { scalarEdit } from './yaml-text.js';
import { trimTrailing } from '../ui/escape.js';

export interface JoinedOut {
  edits: TextEdit[];
  replacements: Replacement[];
  unmapped: Unmapped[];
  warnings: string[];
}

/** Moves (or names) the hubs of a document's joined images; returns the bare-name nodes (no images of their own). */
export function scanJoinedImages(doc: Document.Parsed, text: string, file: string, ctx: RewriteContext, lineOf: (o: number) => number, where: string, out: JoinedOut): Set<unknown> {
  const names = new Set<unknown>();
  const { images, over, beyond } = joinedImages(doc.contents, YAML_JOIN_TREE);
  for (const n of beyond) names.add(n);
  if (!images.length) return names;
  const line = (n: Scalar | undefined) => (n?.range ? lineOf(n.range[0]) : 1);
  if (over) out.warnings.push(`${file}: ${where}: more than ${MAX_JOINED_IMAGES} image names joined to a hub; the rest were not read and are left as written`);
  const byHub = new Map<Scalar | undefined, JoinedImage<Scalar>[]>();
  for (const img of images) {
    names.add(img.nameNode);
    byHub.set(img.hubNode, [...(byHub.get(img.hubNode) ?? []), img]);
  }
  for (const [hubNode, group] of byHub) {
    const at = `${where} ${group[0].hubPath?.join('.') ?? group[0].namePath.join('.')}`;
    const unknown = group.filter((g) => !g.ref);
    for (const u of unknown) out.unmapped.push({ file, line: line(u.nameNode), kind: 'image', ref: u.hub ? `${u.hub}/${u.name}` : u.name, reason: u.unknown!, where: `${where} ${u.namePath.join('.')}` });
    const known = group.filter((g): g is JoinedImage<Scalar> & { ref: string } => !!g.ref);
    if (!hubNode || !known.length) continue;
    const hub = known[0].hub!;
    const placed = mirrorPlaces([...new Map(known.map((k) => [k.ref, { image: k.ref, suffix: k.name }])).values()], ctx, `the program appends to ${at}`, false);
    const onMirror = known.filter((k) => ctx.lookupImage(k.ref).status === 'mirror');
    if (onMirror.length === known.length) continue;
    for (const m of [...placed.missing, ...placed.blocked]) {
      const k = known.find((x) => x.ref === m.image)!;
      out.unmapped.push({ file, line: line(k.nameNode), kind: 'image', ref: m.image, reason: `${m.reason} (joined from ${k.hubPath!.join('.')}, ${k.namePath.join('.')}, ${k.tagPath!.join('.')}): the hub ${hub} stays`, where: `${where} ${k.namePath.join('.')}` });
    }
    if (placed.missing.length || placed.blocked.length || unknown.length || onMirror.length || !placed.bases.size) continue;
    if (placed.bases.size > 1) {
      out.unmapped.push({ file, line: line(hubNode), kind: 'image', ref: hub, reason: `the images joined to it sit under different mirror prefixes (${[...placed.bases].join(', ')}); one hub cannot name them all`, where: at });
      continue;
    }
    const next = trimTrailing(`${placed.host}/${[...placed.bases][0]}`, '/');
    out.edits.push(scalarEdit(hubNode, next, text));
    out.replacements.push({ file, line: line(hubNode), kind: 'registry', old: String(hubNode.value), new: next, where: `${at} (composes ${[...new Set(known.map((k) => k.ref))].sort().join(', ')})` });
  }
  return names;
}
