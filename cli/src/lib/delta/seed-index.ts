/** Bytes hashed per seed: the shortest exact match the index can find. */
export const SEED_BYTES = 8;

/**
 * Positions of an old input by the hash of their next SEED_BYTES bytes: every `stride`-th
 * position, in hash chains (`head` holds the newest slot of each hash, `chain` the next older
 * one; slot s is position s x stride). Memory: 4 bytes per indexed position plus the table.
 */
export interface SeedIndex {
  stride: number;
  shift: number;
  head: Int32Array;
  chain: Int32Array;
}

export function seedHash(bytes: Uint8Array, at: number, shift: number): number {
  const low = bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
  const high = bytes[at + 4]! | (bytes[at + 5]! << 8) | (bytes[at + 6]! << 16) | (bytes[at + 7]! << 24);
  const mixed = Math.imul(high ^ (Math.imul(low, 0x9e3779b1) >>> 15), 0x85ebca77) ^ Math.imul(low, 0xc2b2ae3d);
  return (mixed ^ (mixed >>> 13)) >>> shift;
}

/** Hash table bits for `entries` indexed positions: about one entry per bucket, 2^12 ... 2^25 buckets. */
export function seedTableBits(entries: number): number {
  return Math.min(25, Math.max(12, Math.ceil(Math.log2(entries + 1))));
}

/** Bytes a SeedIndex over `oldSize` bytes at `stride` takes. */
export function seedIndexBytes(oldSize: number, stride: number): number {
  const entries = Math.ceil(oldSize / stride);
  return 4 * entries + 4 * 2 ** seedTableBits(entries);
}

export function buildSeedIndex(old: Uint8Array, stride: number): SeedIndex {
  const entries = Math.max(0, Math.floor((old.length - SEED_BYTES) / stride) + 1);
  const bits = seedTableBits(Math.ceil(old.length / stride));
  const shift = 32 - bits;
  const head = new Int32Array(2 ** bits).fill(-1);
  const chain = new Int32Array(entries);
  for (let slot = 0; slot < entries; slot++) {
    const hash = seedHash(old, slot * stride, shift);
    chain[slot] = head[hash]!;
    head[hash] = slot;
  }
  return { stride, shift, head, chain };
}
