import { createHash } from 'node:crypto';

/** Smallest block, and the most blocks indexed: the index of one old file stays a few tens of MiB. */
const MIN_BLOCK_BYTES = 2048;
const MAX_INDEXED_BLOCKS = 1 << 18;
const SCAN_PIECE_BYTES = 1024 * 1024;
const MOD = 1 << 16;

/** Reads `length` bytes at `offset` of one input. */
export type ReadAt = (offset: number, length: number) => Promise<Buffer>;

export type MatchPiece = { kind: 'copy'; oldOffset: number; length: number } | { kind: 'literal'; newOffset: number; length: number };

interface IndexedBlock {
  offset: number;
  strong: string;
}

/** Block size for an old input: at least 2 KiB, larger for huge inputs so the index stays bounded. */
export function blockSizeFor(oldSize: number): number {
  let size = MIN_BLOCK_BYTES;
  while (oldSize / size > MAX_INDEXED_BLOCKS) size *= 2;
  return size;
}

function strongHash(bytes: Buffer, offset: number, length: number): string {
  return createHash('md5').update(bytes.subarray(offset, offset + length)).digest('base64');
}

/** rsync's weak checksum of bytes[offset, offset + length): a and b, 16 bits each. */
function weakParts(bytes: Buffer, offset: number, length: number): [number, number] {
  let a = 0;
  let b = 0;
  for (let i = 0; i < length; i++) {
    a += bytes[offset + i]!;
    b += (length - i) * bytes[offset + i]!;
  }
  return [a % MOD, b % MOD];
}

async function indexOld(readOld: ReadAt, oldSize: number, blockSize: number): Promise<Map<number, IndexedBlock[]>> {
  const index = new Map<number, IndexedBlock[]>();
  const piece = Math.floor(SCAN_PIECE_BYTES / blockSize) * blockSize || blockSize;
  for (let start = 0; start + blockSize <= oldSize; start += piece) {
    const bytes = await readOld(start, Math.min(piece, oldSize - start));
    for (let at = 0; at + blockSize <= bytes.length; at += blockSize) {
      const [a, b] = weakParts(bytes, at, blockSize);
      const weak = a + b * MOD;
      const block = { offset: start + at, strong: strongHash(bytes, at, blockSize) };
      const same = index.get(weak);
      if (!same) index.set(weak, [block]);
      else if (!same.some((other) => other.strong === block.strong)) same.push(block);
    }
  }
  return index;
}

/**
 * The cheaper method for files too large for bsdiff: rsync-style matching. The old input is
 * indexed by fixed blocks (weak rolling checksum plus md5); the new input is scanned byte by
 * byte with the rolling checksum, and every block found in the old input becomes a copy; the
 * bytes between are literal. Time is linear, memory is the index plus about 1 MiB.
 */
export async function* blockMatch(readOld: ReadAt, oldSize: number, readNew: ReadAt, newSize: number): AsyncGenerator<MatchPiece> {
  const blockSize = blockSizeFor(oldSize);
  const index = await indexOld(readOld, oldSize, blockSize);
  let buffer = Buffer.alloc(0);
  let bufferStart = 0;
  /** Makes new[position, position + blockSize] available (one byte past the block, for rolling). */
  const load = async (position: number) => {
    const end = Math.min(newSize, position + blockSize + 1);
    if (bufferStart + buffer.length >= end) return;
    const keepFrom = position - bufferStart;
    const loadFrom = bufferStart + buffer.length;
    const more = await readNew(loadFrom, Math.min(newSize - loadFrom, Math.max(SCAN_PIECE_BYTES, end - loadFrom)));
    buffer = Buffer.concat([buffer.subarray(keepFrom), more]);
    bufferStart = position;
  };

  let position = 0;
  let literalStart = 0;
  let a = 0;
  let b = 0;
  let fresh = true;
  while (position + blockSize <= newSize) {
    if (position + blockSize >= bufferStart + buffer.length) await load(position);
    const at = position - bufferStart;
    if (fresh) {
      [a, b] = weakParts(buffer, at, blockSize);
      fresh = false;
    }
    const same = index.get(a + b * MOD);
    if (same) {
      const strong = strongHash(buffer, at, blockSize);
      const match = same.find((block) => block.strong === strong);
      if (match) {
        if (position > literalStart) yield { kind: 'literal', newOffset: literalStart, length: position - literalStart };
        yield { kind: 'copy', oldOffset: match.offset, length: blockSize };
        position += blockSize;
        literalStart = position;
        fresh = true;
        continue;
      }
    }
    if (position + blockSize === newSize) break;
    const out = buffer[at]!;
    const into = buffer[at + blockSize]!;
    a = (a - out + into + MOD) % MOD;
    b = (b - ((blockSize * out) % MOD) + a + MOD) % MOD;
    position++;
  }
  if (newSize > literalStart) yield { kind: 'literal', newOffset: literalStart, length: newSize - literalStart };
}
