import { createHash } from 'node:crypto';

/** Deterministic bytes that do not compress: the same seed gives the same content in every run (SHAKE256 of the seed). */
export function deterministicBytes(seed: string, length: number): Buffer {
  return createHash('shake256', { outputLength: length }).update(seed).digest();
}
