import * as CdxEnums from '@cyclonedx/cyclonedx-library/Enums';
import * as CdxModels from '@cyclonedx/cyclonedx-library/Models';
import * as CdxSerialize from '@cyclonedx/cyclonedx-library/Serialize';
import * as CdxSpec from '@cyclonedx/cyclonedx-library/Spec';
import type { ItemKind, SbomItem } from './sbom.js';
import { noteItemDone } from '../store/young-gc.js';

/**
 * CycloneDX 1.6 JSON through the CycloneDX library. A module of its own, imported on first use
 * by sbom.ts: loading the library costs every command ~20 ms of CPU otherwise.
 */

const CDX_TYPE: Record<ItemKind, CdxEnums.ComponentType> = {
  image: CdxEnums.ComponentType.Container,
  platform: CdxEnums.ComponentType.Container,
  // An in-toto attestation (SLSA provenance, an SBOM) about one platform's image: data, not a container.
  attestation: CdxEnums.ComponentType.Data,
  chart: CdxEnums.ComponentType.Application,
  deb: CdxEnums.ComponentType.Library,
  file: CdxEnums.ComponentType.File,
};

/**
 * CycloneDX types an external reference's url as an `iri-reference`, and the schema's validators
 * (the CycloneDX library's own, ajv-formats-draft2019) accept only IANA-registered schemes there:
 * `oci://` is not one, so an OCI chart's `oci://registry/path` made the whole document invalid.
 * Such a location stays in the purl's `repository_url` (as every image's does) and is not linked.
 */
const IRI_SCHEMES = /^(?:https?|ftp):\/\//i;

function cdxComponent(item: SbomItem): CdxModels.Component {
  const c = new CdxModels.Component(CDX_TYPE[item.kind], item.name, { bomRef: item.id, version: item.version, purl: item.purl });
  if (item.hashes['SHA-256']) c.hashes.set(CdxEnums.HashAlgorithm['SHA-256'], item.hashes['SHA-256']);
  if (item.hashes['SHA-512']) c.hashes.set(CdxEnums.HashAlgorithm['SHA-512'], item.hashes['SHA-512']);
  const url = item.downloadUrl;
  if (url && IRI_SCHEMES.test(url)) c.externalReferences.add(new CdxModels.ExternalReference(url, CdxEnums.ExternalReferenceType.Distribution));
  for (const [k, v] of item.properties) c.properties.add(new CdxModels.Property(k, v));
  for (const child of item.children) c.components.add(cdxComponent(child));
  return c;
}

interface CdxMeta {
  serialNumber: string;
  name: string;
  ferryVersion: string;
}

function bomOf(meta: CdxMeta): CdxModels.Bom {
  const bom = new CdxModels.Bom({ serialNumber: meta.serialNumber });
  bom.metadata.component = new CdxModels.Component(CdxEnums.ComponentType.Application, meta.name, { bomRef: `ferry-bundle:${meta.name}` });
  bom.metadata.tools.components.add(new CdxModels.Component(CdxEnums.ComponentType.Application, 'ferry', { version: meta.ferryVersion }));
  return bom;
}

const normalizers = () => new CdxSerialize.JSON.Normalize.Factory(CdxSpec.Spec1dot6);
const OPTIONS = { sortLists: true };

/** The whole document at once, as the library writes it (the reference the streamed form matches). */
export function cycloneDxJson(items: SbomItem[], meta: CdxMeta): string {
  const bom = bomOf(meta);
  for (const item of items) bom.components.add(cdxComponent(item));
  const serializer = new CdxSerialize.JsonSerializer(normalizers());
  return serializer.serialize(bom, { ...OPTIONS, space: 2 }) + '\n';
}

/** Every bom-ref of the document in the library's order: the bundle, then each component before its children. */
function allRefs(metaRef: string, items: SbomItem[]): string[] {
  const refs = [metaRef];
  const walk = (item: SbomItem) => {
    refs.push(item.id);
    for (const child of item.children) walk(child);
  };
  for (const item of items) walk(item);
  return refs;
}

/** The library's order of components (Component.compare with string purls). */
function compareItems(a: SbomItem, b: SbomItem): number {
  const byRef = a.id.localeCompare(b.id);
  if (byRef !== 0) return byRef;
  if (a.purl !== undefined && b.purl !== undefined) return a.purl.localeCompare(b.purl);
  return a.name.localeCompare(b.name) || (a.version ?? '').localeCompare(b.version ?? '');
}

const PLACEHOLDER = '\u0000ferry-list\u0000';

/**
 * The same bytes as cycloneDxJson, as a sequence of chunks, one component at a time: the
 * library's object model and the document's text of a whole APT component (60 000 packages,
 * ~60 MB of JSON) are never held at once. Each call of the returned function renders afresh
 * (a caller can hash the document first and write it later). Where the library would rename
 * bom-refs (an empty or repeated one; it picks random names), the whole document is rendered
 * by the library, once.
 */
export function cycloneDxChunks(items: SbomItem[], meta: CdxMeta): () => Iterable<string> {
  const metaRef = `ferry-bundle:${meta.name}`;
  const refs = allRefs(metaRef, items);
  if (refs.includes('') || new Set(refs).size !== refs.length) {
    const whole = cycloneDxJson(items, meta);
    return () => [whole];
  }
  const factory = normalizers();
  const doc = factory.makeForBom().normalize(bomOf(meta), OPTIONS) as unknown as Record<string, unknown>;
  doc.components = PLACEHOLDER;
  doc.dependencies = PLACEHOLDER;
  const [head, between, tail] = JSON.stringify(doc, null, 2).split(JSON.stringify(PLACEHOLDER));
  // Sorted as the library sorts (stable, from the order the items were added in).
  const order = items.map((_, i) => i).sort((a, b) => compareItems(items[a], items[b]));
  refs.sort((a, b) => a.localeCompare(b));
  const indent = (json: string) => '\n    ' + json.replace(/\n/g, '\n    ');
  return function* () {
    yield head;
    if (!order.length) yield '[]';
    else {
      const component = factory.makeForComponent();
      yield '[';
      for (let i = 0; i < order.length; i++) {
        const json = JSON.stringify(component.normalize(cdxComponent(items[order[i]]), OPTIONS), null, 2);
        yield (i ? ',' : '') + indent(json);
        // Each component leaves the library's model of it behind: collected like any small item's garbage.
        noteItemDone();
      }
      yield '\n  ]';
    }
    yield between;
    yield '[';
    for (let i = 0; i < refs.length; i++) yield (i ? ',' : '') + indent(JSON.stringify({ ref: refs[i] }, null, 2));
    yield '\n  ]';
    yield tail + '\n';
  };
}
