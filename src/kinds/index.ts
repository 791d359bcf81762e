import type { Kind } from './types.js';
import { imageKind } from './image/index.js';
import { chartKind } from './chart/index.js';
import { fileKind } from './file/index.js';
import { aptKind } from './apt/index.js';

/**
 * The registry of artifact kinds. `lock`, `bundle create`, `import` and `map` iterate this list;
 * adding a kind is one folder and one line here. Keys are the manifest/lock field names.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyKind = Kind<any, any>;

export const KINDS: Array<{ field: 'images' | 'charts' | 'files' | 'apt'; kind: AnyKind }> = [
  { field: 'images', kind: imageKind },
  { field: 'charts', kind: chartKind },
  { field: 'files', kind: fileKind },
  { field: 'apt', kind: aptKind },
];

export function kindByName(name: string): AnyKind | undefined {
  return KINDS.find((k) => k.kind.name === name)?.kind;
}
