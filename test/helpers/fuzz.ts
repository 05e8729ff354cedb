import fc from 'fast-check';
import { PrtiqlError } from '../../shared/errors.js';

export { fuzzRuns } from './delta.js';

/**
 * Runs `attempt`; success passes, and so does a PrtiqlError with a real code (not E_INTERNAL)
 * and a one-line message. Anything else (a TypeError, a RangeError, a bare Error) is rethrown,
 * which fails the property and makes fast-check shrink the input.
 */
export async function onlyTypedErrors(attempt: () => unknown): Promise<void> {
  try {
    await attempt();
  } catch (error) {
    if (!(error instanceof PrtiqlError) || error.code === 'E_INTERNAL' || /\n/.test(error.message)) throw error;
  }
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function paths(value: Json, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [prefix];
  const keys: (string | number)[] = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return [prefix, ...keys.flatMap((key) => paths((value as Record<string | number, Json>)[key], [...prefix, key]))];
}

const ODD_VALUES = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
  fc.constantFrom<Json>(null, -1, 0, 1.5, 2 ** 53, '', 'sha256:', `sha256:${'0'.repeat(64)}`, [], {}, '9999-12-31T23:59:59Z'),
);

/**
 * One structural change to a JSON document: a value somewhere replaced by an odd one, a key or
 * array element removed, or an array element repeated. The document itself is not changed.
 */
export function mutateJson(document: Json, g: fc.GeneratorValue): Json {
  const copy = structuredClone(document);
  const path: (string | number)[] = g(fc.constantFrom, ...paths(copy));
  if (path.length === 0) return g(() => ODD_VALUES);
  type Node = Record<string | number, Json>;
  const parent = path.slice(0, -1).reduce<Node>((node, key) => node[key] as Node, copy as Node);
  const key = path.at(-1)!;
  const change = g(fc.constantFrom, 'replace', 'remove', 'repeat');
  if (change === 'replace') parent[key] = g(() => ODD_VALUES);
  else if (Array.isArray(parent)) parent.splice(key as number, change === 'remove' ? 1 : 0, ...(change === 'repeat' ? [parent[key as number]] : []));
  else delete parent[key];
  return copy;
}

/** A few random byte-level edits: flipped bits, a cut, inserted noise. */
export function mutateBytes(bytes: Buffer, g: fc.GeneratorValue): Buffer {
  let result = Buffer.from(bytes);
  for (let edits = g(fc.integer, { min: 1, max: 3 }); edits > 0; edits--) {
    const at = g(fc.nat, { max: Math.max(0, result.length - 1) });
    const kind = g(fc.constantFrom, 'flip', 'cut', 'insert');
    if (kind === 'flip' && result.length > 0) result[at] ^= 1 << g(fc.nat, { max: 7 });
    else if (kind === 'cut') result = result.subarray(0, at);
    else result = Buffer.concat([result.subarray(0, at), Buffer.from(g(fc.uint8Array, { minLength: 1, maxLength: 16 })), result.subarray(at)]);
  }
  return result;
}
