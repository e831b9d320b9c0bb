import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { REPO_ROOT } from './cli.js';

/** The committed JSON Schemas (events, OCSF subset), compiled once with ajv in strict mode. */

export const EVENT_SCHEMA_FILE = path.join(REPO_ROOT, 'schema', 'events', 'v1', 'chokepoint-event.schema.json');
export const OCSF_SCHEMA_FILE = path.join(REPO_ROOT, 'schema', 'ocsf', 'v1.3.0', 'chokepoint-ocsf-subset.schema.json');

const ajv = new Ajv2020({ strict: true, allErrors: true, strictRequired: false });
addFormats.default(ajv);

function validator(file: string): (value: unknown) => string {
  const validate = ajv.compile(JSON.parse(readFileSync(file, 'utf8')) as object);
  // The errors as text, '' when valid: a test failure then says which field is wrong.
  return (value) => (validate(value) ? '' : ajv.errorsText(validate.errors, { separator: '\n' }));
}

export const eventSchemaErrors = validator(EVENT_SCHEMA_FILE);
export const ocsfSchemaErrors = validator(OCSF_SCHEMA_FILE);
