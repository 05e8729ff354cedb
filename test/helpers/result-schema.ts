import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { REPO_ROOT } from './run.js';

/** The validator of schemas/<name>.schema.json, with the shared definitions it refers to. */
export async function resultSchema(name: string): Promise<ValidateFunction> {
  const read = async (file: string) => JSON.parse(await readFile(join(REPO_ROOT, 'schemas', file), 'utf8'));
  const ajv = new Ajv({ allErrors: true, strict: true });
  ajv.addSchema(await read('definitions.schema.json'));
  return ajv.compile(await read(`${name}.schema.json`));
}
