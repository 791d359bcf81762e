import path from 'node:path';
import { buildInventory, type Inventory } from '../audit/inventory.js';
import { buildConnectionModel } from '../audit/model.js';
import { loadManifest } from '../kinds/schema.js';

export interface InventoryOptions {
  cwd?: string;
}

/** `ferry inventory`: the connection inventory of a manifest's connection model. */
export async function inventoryCommand(manifestFile: string, opts: InventoryOptions = {}): Promise<Inventory> {
  const model = buildConnectionModel(await loadManifest(path.resolve(opts.cwd ?? process.cwd(), manifestFile)));
  return buildInventory(model);
}
