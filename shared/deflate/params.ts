/**
 * The settings that decide, byte for byte, what a deflate encoder writes. Two encoders are
 * reproduced: zlib's (what most libraries and tools link) and GNU gzip's own (what `gzip`
 * writes, e.g. Debian's man pages and changelogs): both use the same lazy matching for levels
 * 4 to 9 but differ in hash size, block size, block-splitting heuristic and end-of-input
 * details. Levels 1 to 3 (no lazy matching) and level 0 (stored) are not reproduced.
 */
export type DeflateFlavour = 'zlib' | 'gzip';

export interface DeflateParams {
  flavour: DeflateFlavour;
  /** 4 to 9. */
  level: number;
  /** zlib's memLevel, 1 to 9 (hash table and block buffer sizes); gzip behaves like 8 for hashing and 9 for blocks and always has 8 here. */
  memLevel: number;
}

export const MIN_LEVEL = 4;
export const MAX_LEVEL = 9;
export const GZIP_MEM_LEVEL = 8;

export const FLAVOUR_CODE = { zlib: 0, gzip: 1 } as const;

/** Why `params` cannot be reproduced, or undefined when they can. */
export function unsupportedParams(params: DeflateParams): string | undefined {
  if (!(params.flavour in FLAVOUR_CODE)) return `unknown deflate flavour ${JSON.stringify(params.flavour)}`;
  if (!Number.isInteger(params.level) || params.level < MIN_LEVEL || params.level > MAX_LEVEL) return `deflate level ${params.level} is not ${MIN_LEVEL} to ${MAX_LEVEL}`;
  if (params.flavour === 'gzip' && params.memLevel !== GZIP_MEM_LEVEL) return `gzip deflate has memory level ${GZIP_MEM_LEVEL}, not ${params.memLevel}`;
  if (!Number.isInteger(params.memLevel) || params.memLevel < 1 || params.memLevel > 9) return `deflate memory level ${params.memLevel} is not 1 to 9`;
  return undefined;
}

/** The parameter sets tried when looking for the ones that reproduce a stream, most common first. */
export const CANDIDATE_PARAMS: readonly DeflateParams[] = [
  { flavour: 'gzip', level: 9, memLevel: GZIP_MEM_LEVEL },
  { flavour: 'zlib', level: 9, memLevel: 8 },
  { flavour: 'zlib', level: 6, memLevel: 8 },
  { flavour: 'gzip', level: 6, memLevel: GZIP_MEM_LEVEL },
  { flavour: 'zlib', level: 9, memLevel: 9 },
  { flavour: 'zlib', level: 8, memLevel: 8 },
  { flavour: 'zlib', level: 7, memLevel: 8 },
  { flavour: 'zlib', level: 5, memLevel: 8 },
  { flavour: 'zlib', level: 4, memLevel: 8 },
];
