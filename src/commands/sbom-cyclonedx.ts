import * as CdxEnums from '@cyclonedx/cyclonedx-library/Enums';
import * as CdxModels from '@cyclonedx/cyclonedx-library/Models';
import * as CdxSerialize from '@cyclonedx/cyclonedx-library/Serialize';
import * as CdxSpec from '@cyclonedx/cyclonedx-library/Spec';
import type { ItemKind, SbomItem } from './sbom.js';

/**
 * CycloneDX 1.6 JSON through the CycloneDX library. A module of its own, imported on first use
 * by sbom.ts: loading the library costs every command ~20 ms of CPU otherwise.
 */

const CDX_TYPE: Record<ItemKind, CdxEnums.ComponentType> = {
  image: CdxEnums.ComponentType.Container,
  platform: CdxEnums.ComponentType.Container,
  chart: CdxEnums.ComponentType.Application,
  deb: CdxEnums.ComponentType.Library,
  file: CdxEnums.ComponentType.File,
};

function cdxComponent(item: SbomItem): CdxModels.Component {
  const c = new CdxModels.Component(CDX_TYPE[item.kind], item.name, { bomRef: item.id, version: item.version, purl: item.purl });
  if (item.hashes['SHA-256']) c.hashes.set(CdxEnums.HashAlgorithm['SHA-256'], item.hashes['SHA-256']);
  if (item.hashes['SHA-512']) c.hashes.set(CdxEnums.HashAlgorithm['SHA-512'], item.hashes['SHA-512']);
  if (item.downloadUrl) c.externalReferences.add(new CdxModels.ExternalReference(item.downloadUrl, CdxEnums.ExternalReferenceType.Distribution));
  for (const [k, v] of item.properties) c.properties.add(new CdxModels.Property(k, v));
  for (const child of item.children) c.components.add(cdxComponent(child));
  return c;
}

export function cycloneDxJson(items: SbomItem[], meta: { serialNumber: string; name: string; ferryVersion: string }): string {
  const bom = new CdxModels.Bom({ serialNumber: meta.serialNumber });
  bom.metadata.component = new CdxModels.Component(CdxEnums.ComponentType.Application, meta.name, { bomRef: `ferry-bundle:${meta.name}` });
  bom.metadata.tools.components.add(new CdxModels.Component(CdxEnums.ComponentType.Application, 'ferry', { version: meta.ferryVersion }));
  for (const item of items) bom.components.add(cdxComponent(item));
  const serializer = new CdxSerialize.JsonSerializer(new CdxSerialize.JSON.Normalize.Factory(CdxSpec.Spec1dot6));
  return serializer.serialize(bom, { sortLists: true, space: 2 }) + '\n';
}
