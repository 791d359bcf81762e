import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';

const require = createRequire(import.meta.url);
const CDX_SCHEMAS = path.join(path.dirname(require.resolve('@cyclonedx/cyclonedx-library/package.json')), 'res', 'schema');

/**
 * ajv with the CycloneDX 1.6 schema and the schemas it refers to (SPDX licence ids, JSF,
 * cryptography definitions), as the library ships them; formats checked (draft 2019 formats
 * such as iri-reference and idn-email included), as the library's own validator does.
 */
export async function cycloneDxValidator() {
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  addFormats.default(ajv);
  (require('ajv-formats-draft2019') as (a: Ajv) => Ajv)(ajv);
  for (const name of ['spdx.SNAPSHOT.schema.json', 'jsf-0.82.SNAPSHOT.schema.json', 'cryptography-defs.SNAPSHOT.schema.json']) {
    ajv.addSchema(JSON.parse(await readFile(path.join(CDX_SCHEMAS, name), 'utf8')), `http://cyclonedx.org/schema/${name}`);
  }
  return ajv.compile(JSON.parse(await readFile(path.join(CDX_SCHEMAS, 'bom-1.6.SNAPSHOT.schema.json'), 'utf8')));
}
