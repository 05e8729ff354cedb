/**
 * Deflate blocks (RFC 1951) built exactly the way zlib's and GNU gzip's trees.c build them:
 * the same heap with the same tie-breaks, the same bit-length limiting, the same choice
 * between stored, fixed and dynamic blocks. Two encoders that pick the same symbols and the
 * same block boundaries therefore write the same bits, which is what lets a device rebuild a
 * compressed member byte for byte.
 */

const LITERALS = 256;
const END_BLOCK = 256;
const LENGTH_CODES = 29;
const L_CODES = LITERALS + 1 + LENGTH_CODES;
const D_CODES = 30;
const BL_CODES = 19;
const HEAP_SIZE = 2 * L_CODES + 1;
const MAX_BITS = 15;
const MAX_BL_BITS = 7;
const REP_3_6 = 16;
const REPZ_3_10 = 17;
const REPZ_11_138 = 18;
const STORED_BLOCK = 0;
const STATIC_TREES = 1;
const DYN_TREES = 2;

const EXTRA_LENGTH_BITS = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const EXTRA_DISTANCE_BITS = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const EXTRA_BL_BITS = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 7];
/** The order in which code-length code lengths are sent. */
const BL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

const lengthCode = new Uint8Array(256);
const baseLength = new Int32Array(LENGTH_CODES);
const distanceCode = new Uint8Array(512);
const baseDistance = new Int32Array(D_CODES);
{
  let length = 0;
  for (let code = 0; code < LENGTH_CODES - 1; code++) {
    baseLength[code] = length;
    for (let n = 0; n < 1 << EXTRA_LENGTH_BITS[code]!; n++) lengthCode[length++] = code;
  }
  // Length 258 (255 here) has its own code, 285, although 284 could also express it.
  lengthCode[length - 1] = LENGTH_CODES - 1;
  let distance = 0;
  for (let code = 0; code < 16; code++) {
    baseDistance[code] = distance;
    for (let n = 0; n < 1 << EXTRA_DISTANCE_BITS[code]!; n++) distanceCode[distance++] = code;
  }
  distance >>= 7;
  for (let code = 16; code < D_CODES; code++) {
    baseDistance[code] = distance << 7;
    for (let n = 0; n < 1 << (EXTRA_DISTANCE_BITS[code]! - 7); n++) distanceCode[256 + distance++] = code;
  }
}

/** Distance code of a distance minus one. */
function distanceCodeOf(distance: number): number {
  return distance < 256 ? distanceCode[distance]! : distanceCode[256 + (distance >> 7)]!;
}

function reverseBits(code: number, length: number): number {
  let reversed = 0;
  for (let i = 0; i < length; i++) {
    reversed = (reversed << 1) | (code & 1);
    code >>= 1;
  }
  return reversed;
}

/** Canonical codes from code lengths, bit-reversed for LSB-first output. */
function assignCodes(lengths: ArrayLike<number>, codes: Uint16Array, maxCode: number, countPerLength: ArrayLike<number>): void {
  const next = new Uint16Array(MAX_BITS + 1);
  let code = 0;
  for (let bits = 1; bits <= MAX_BITS; bits++) {
    code = (code + countPerLength[bits - 1]!) << 1;
    next[bits] = code;
  }
  for (let n = 0; n <= maxCode; n++) {
    const length = lengths[n]!;
    if (length !== 0) codes[n] = reverseBits(next[length]!++, length);
  }
}

interface StaticTree {
  lengths: Uint8Array;
  codes: Uint16Array;
}

const staticLiteralTree: StaticTree = { lengths: new Uint8Array(L_CODES + 2), codes: new Uint16Array(L_CODES + 2) };
const staticDistanceTree: StaticTree = { lengths: new Uint8Array(D_CODES).fill(5), codes: new Uint16Array(D_CODES) };
{
  const counts = new Uint16Array(MAX_BITS + 1);
  const lengths = staticLiteralTree.lengths;
  for (let n = 0; n < L_CODES + 2; n++) lengths[n] = n < 144 ? 8 : n < 256 ? 9 : n < 280 ? 7 : 8;
  for (const length of lengths) counts[length]!++;
  assignCodes(lengths, staticLiteralTree.codes, L_CODES + 1, counts);
  for (let n = 0; n < D_CODES; n++) staticDistanceTree.codes[n] = reverseBits(n, 5);
}

/** One dynamic tree: frequencies, then lengths and codes once built. */
class Tree {
  readonly frequency: Int32Array;
  readonly length: Uint16Array;
  readonly parent: Int32Array;
  readonly code: Uint16Array;
  maxCode = 0;

  constructor(
    size: number,
    readonly elements: number,
    readonly maxLength: number,
    readonly extraBits: readonly number[],
    readonly extraBase: number,
    readonly stat: StaticTree | undefined,
  ) {
    this.frequency = new Int32Array(size);
    this.length = new Uint16Array(size);
    this.parent = new Int32Array(size);
    this.code = new Uint16Array(size);
  }

  clear(): void {
    for (const table of [this.frequency, this.length, this.parent, this.code]) table.fill(0);
    this.maxCode = 0;
  }
}

/** Packs bits least significant first, as deflate requires. */
class BitWriter {
  private chunks: Uint8Array[] = [];
  private bytes = new Uint8Array(16 * 1024);
  private used = 0;
  private bitBuffer = 0;
  private bitCount = 0;

  bits(value: number, length: number): void {
    this.bitBuffer |= value << this.bitCount;
    this.bitCount += length;
    while (this.bitCount >= 8) {
      this.byte(this.bitBuffer & 0xff);
      this.bitBuffer >>>= 8;
      this.bitCount -= 8;
    }
  }

  /** Pads to a byte boundary with zero bits. */
  align(): void {
    if (this.bitCount > 0) this.byte(this.bitBuffer & 0xff);
    this.bitBuffer = 0;
    this.bitCount = 0;
  }

  byte(value: number): void {
    if (this.used === this.bytes.length) {
      this.chunks.push(this.bytes);
      this.bytes = new Uint8Array(this.bytes.length);
      this.used = 0;
    }
    this.bytes[this.used++] = value;
  }

  clear(): void {
    this.chunks = [];
    this.used = 0;
    this.bitBuffer = 0;
    this.bitCount = 0;
  }

  /** Whole bytes written since the last call. */
  take(): Uint8Array[] {
    const taken = this.chunks;
    if (this.used > 0) taken.push(this.bytes.slice(0, this.used));
    this.chunks = [];
    this.used = 0;
    return taken;
  }
}

/**
 * Collects one block's symbols (literals and length/distance pairs) and writes the block.
 * `capacity` is the symbol buffer's size: the caller ends a block when `tally` says so.
 */
export class BlockWriter {
  private readonly literalTree = new Tree(HEAP_SIZE, L_CODES, MAX_BITS, EXTRA_LENGTH_BITS, LITERALS + 1, staticLiteralTree);
  private readonly distanceTree = new Tree(2 * D_CODES + 1, D_CODES, MAX_BITS, EXTRA_DISTANCE_BITS, 0, staticDistanceTree);
  private readonly lengthsTree = new Tree(2 * BL_CODES + 1, BL_CODES, MAX_BL_BITS, EXTRA_BL_BITS, 0, undefined);
  private readonly heap = new Int32Array(2 * L_CODES + 1);
  private readonly depth = new Uint8Array(2 * L_CODES + 1);
  private readonly countPerLength = new Uint16Array(MAX_BITS + 1);
  private heapLength = 0;
  private heapMax = 0;
  private optimalLength = 0;
  private staticLength = 0;
  /** Per symbol: the distance (0 for a literal) and the literal or the match length minus 3. */
  private readonly distances: Uint16Array;
  private readonly values: Uint8Array;
  /** Symbols in the current block. */
  symbols = 0;
  /** Matches in the current block. */
  matches = 0;
  private readonly out = new BitWriter();

  constructor(readonly capacity: number) {
    this.distances = new Uint16Array(capacity);
    this.values = new Uint8Array(capacity);
    this.startBlock();
  }

  literal(byte: number): void {
    this.distances[this.symbols] = 0;
    this.values[this.symbols++] = byte;
    this.literalTree.frequency[byte]!++;
  }

  /** A match of `length` (3 to 258) bytes at `distance` (1 to 32 768) back. */
  match(distance: number, length: number): void {
    const lengthValue = length - 3;
    this.distances[this.symbols] = distance;
    this.values[this.symbols++] = lengthValue;
    this.matches++;
    this.literalTree.frequency[lengthCode[lengthValue]! + LITERALS + 1]!++;
    this.distanceTree.frequency[distanceCodeOf(distance - 1)]!++;
  }

  /** GNU gzip's estimate of the block's compressed size in bytes, from literal count and distance codes. */
  estimatedBytes(): number {
    let bits = this.symbols * 8;
    for (let code = 0; code < D_CODES; code++) bits += this.distanceTree.frequency[code]! * (5 + EXTRA_DISTANCE_BITS[code]!);
    return Math.floor(bits / 8);
  }

  /**
   * Writes the block: stored if that is smallest and its bytes (`stored`) are still at hand,
   * fixed codes if they cost no more than dynamic ones, else dynamic codes.
   */
  flush(stored: Uint8Array | undefined, storedLength: number, last: boolean): void {
    this.buildTree(this.literalTree);
    this.buildTree(this.distanceTree);
    const maxLengthsIndex = this.buildLengthsTree();
    let optimalBytes = Math.floor((this.optimalLength + 3 + 7) / 8);
    const staticBytes = Math.floor((this.staticLength + 3 + 7) / 8);
    if (staticBytes <= optimalBytes) optimalBytes = staticBytes;
    const lastBit = last ? 1 : 0;
    if (storedLength + 4 <= optimalBytes && stored !== undefined) {
      this.out.bits((STORED_BLOCK << 1) + lastBit, 3);
      this.out.align();
      this.out.bits(storedLength & 0xffff, 16);
      this.out.bits(~storedLength & 0xffff, 16);
      for (let i = 0; i < storedLength; i++) this.out.byte(stored[i]!);
    } else if (staticBytes === optimalBytes) {
      this.out.bits((STATIC_TREES << 1) + lastBit, 3);
      this.writeSymbols(staticLiteralTree.codes, staticLiteralTree.lengths, staticDistanceTree.codes, staticDistanceTree.lengths);
    } else {
      this.out.bits((DYN_TREES << 1) + lastBit, 3);
      this.writeTrees(this.literalTree.maxCode + 1, this.distanceTree.maxCode + 1, maxLengthsIndex + 1);
      this.writeSymbols(this.literalTree.code, this.literalTree.length, this.distanceTree.code, this.distanceTree.length);
    }
    this.startBlock();
    if (last) this.out.align();
  }

  /** Compressed bytes completed so far. */
  take(): Uint8Array[] {
    return this.out.take();
  }

  /** Back to the state of a new BlockWriter, for a new stream. */
  reset(): void {
    for (const tree of [this.literalTree, this.distanceTree, this.lengthsTree]) tree.clear();
    for (const table of [this.heap, this.depth, this.countPerLength, this.distances, this.values]) table.fill(0);
    this.out.clear();
    this.startBlock();
  }

  private startBlock(): void {
    for (const tree of [this.literalTree, this.distanceTree, this.lengthsTree]) tree.frequency.fill(0, 0, tree.elements);
    this.literalTree.frequency[END_BLOCK] = 1;
    this.optimalLength = 0;
    this.staticLength = 0;
    this.symbols = 0;
    this.matches = 0;
  }

  private smaller(tree: Tree, n: number, m: number): boolean {
    const fn = tree.frequency[n]!;
    const fm = tree.frequency[m]!;
    return fn < fm || (fn === fm && this.depth[n]! <= this.depth[m]!);
  }

  private siftDown(tree: Tree, position: number): void {
    const heap = this.heap;
    const value = heap[position]!;
    let k = position;
    let child = k << 1;
    while (child <= this.heapLength) {
      if (child < this.heapLength && this.smaller(tree, heap[child + 1]!, heap[child]!)) child++;
      if (this.smaller(tree, value, heap[child]!)) break;
      heap[k] = heap[child]!;
      k = child;
      child <<= 1;
    }
    heap[k] = value;
  }

  /** Huffman code lengths (limited to the tree's maximum) and codes; adds the block's cost. */
  private buildTree(tree: Tree): void {
    const heap = this.heap;
    const { frequency, length, parent } = tree;
    let maxCode = -1;
    this.heapLength = 0;
    this.heapMax = HEAP_SIZE;
    for (let n = 0; n < tree.elements; n++) {
      if (frequency[n] !== 0) {
        heap[++this.heapLength] = maxCode = n;
        this.depth[n] = 0;
      } else {
        length[n] = 0;
      }
    }
    // A code needs two symbols at least: force some (pkzip does the same).
    while (this.heapLength < 2) {
      const node = (heap[++this.heapLength] = maxCode < 2 ? ++maxCode : 0);
      frequency[node] = 1;
      this.depth[node] = 0;
      this.optimalLength--;
      if (tree.stat) this.staticLength -= tree.stat.lengths[node]!;
    }
    tree.maxCode = maxCode;
    for (let n = this.heapLength >> 1; n >= 1; n--) this.siftDown(tree, n);
    let node = tree.elements;
    do {
      const n = heap[1]!;
      heap[1] = heap[this.heapLength--]!;
      this.siftDown(tree, 1);
      const m = heap[1]!;
      heap[--this.heapMax] = n;
      heap[--this.heapMax] = m;
      frequency[node] = frequency[n]! + frequency[m]!;
      this.depth[node] = Math.max(this.depth[n]!, this.depth[m]!) + 1;
      parent[n] = parent[m] = node;
      heap[1] = node++;
      this.siftDown(tree, 1);
    } while (this.heapLength >= 2);
    heap[--this.heapMax] = heap[1]!;
    this.assignLengths(tree);
    assignCodes(length, tree.code, maxCode, this.countPerLength);
  }

  private assignLengths(tree: Tree): void {
    const heap = this.heap;
    const { frequency, length, parent, maxCode, maxLength } = tree;
    const counts = this.countPerLength;
    counts.fill(0);
    length[heap[this.heapMax]!] = 0;
    let overflow = 0;
    let h = this.heapMax + 1;
    for (; h < HEAP_SIZE; h++) {
      const n = heap[h]!;
      let bits = length[parent[n]!]! + 1;
      if (bits > maxLength) {
        bits = maxLength;
        overflow++;
      }
      length[n] = bits;
      if (n > maxCode) continue;
      counts[bits]!++;
      const extra = n >= tree.extraBase ? tree.extraBits[n - tree.extraBase]! : 0;
      const f = frequency[n]!;
      this.optimalLength += f * (bits + extra);
      if (tree.stat) this.staticLength += f * (tree.stat.lengths[n]! + extra);
    }
    if (overflow === 0) return;
    do {
      let bits = maxLength - 1;
      while (counts[bits] === 0) bits--;
      counts[bits]!--;
      counts[bits + 1]! += 2;
      counts[maxLength]!--;
      overflow -= 2;
    } while (overflow > 0);
    for (let bits = maxLength; bits !== 0; bits--) {
      let n = counts[bits]!;
      while (n !== 0) {
        const m = heap[--h]!;
        if (m > maxCode) continue;
        if (length[m] !== bits) {
          this.optimalLength += (bits - length[m]!) * frequency[m]!;
          length[m] = bits;
        }
        n--;
      }
    }
  }

  /** Walks a tree's code lengths as run-length codes: counts them (`send` false) or writes them. */
  private runLengths(tree: Tree, maxCode: number, send: boolean): void {
    const lengths = tree.length;
    const bl = this.lengthsTree;
    const emit = (symbol: number) => (send ? this.out.bits(bl.code[symbol]!, bl.length[symbol]!) : bl.frequency[symbol]!++);
    let previous = -1;
    let next = lengths[0]!;
    let count = 0;
    let maxCount = next === 0 ? 138 : 7;
    let minCount = next === 0 ? 3 : 4;
    for (let n = 0; n <= maxCode; n++) {
      const current = next;
      next = n + 1 <= maxCode ? lengths[n + 1]! : 0xffff;
      if (++count < maxCount && current === next) continue;
      if (count < minCount) {
        if (send) for (; count > 0; count--) emit(current);
        else bl.frequency[current]! += count;
      } else if (current !== 0) {
        if (current !== previous) {
          emit(current);
          count--;
        }
        emit(REP_3_6);
        if (send) this.out.bits(count - 3, 2);
      } else if (count <= 10) {
        emit(REPZ_3_10);
        if (send) this.out.bits(count - 3, 3);
      } else {
        emit(REPZ_11_138);
        if (send) this.out.bits(count - 11, 7);
      }
      count = 0;
      previous = current;
      if (next === 0) {
        maxCount = 138;
        minCount = 3;
      } else if (current === next) {
        maxCount = 6;
        minCount = 3;
      } else {
        maxCount = 7;
        minCount = 4;
      }
    }
  }

  /** The code-length tree; returns the index in BL_ORDER of the last length sent. */
  private buildLengthsTree(): number {
    this.runLengths(this.literalTree, this.literalTree.maxCode, false);
    this.runLengths(this.distanceTree, this.distanceTree.maxCode, false);
    this.buildTree(this.lengthsTree);
    let maxIndex = BL_CODES - 1;
    for (; maxIndex >= 3; maxIndex--) if (this.lengthsTree.length[BL_ORDER[maxIndex]!] !== 0) break;
    this.optimalLength += 3 * (maxIndex + 1) + 5 + 5 + 4;
    return maxIndex;
  }

  private writeTrees(literalCodes: number, distanceCodes: number, lengthCodes: number): void {
    this.out.bits(literalCodes - 257, 5);
    this.out.bits(distanceCodes - 1, 5);
    this.out.bits(lengthCodes - 4, 4);
    for (let rank = 0; rank < lengthCodes; rank++) this.out.bits(this.lengthsTree.length[BL_ORDER[rank]!]!, 3);
    this.runLengths(this.literalTree, literalCodes - 1, true);
    this.runLengths(this.distanceTree, distanceCodes - 1, true);
  }

  private writeSymbols(literalCodes: Uint16Array, literalLengths: ArrayLike<number>, distanceCodes: Uint16Array, distanceLengths: ArrayLike<number>): void {
    const out = this.out;
    for (let i = 0; i < this.symbols; i++) {
      const distance = this.distances[i]!;
      const value = this.values[i]!;
      if (distance === 0) {
        out.bits(literalCodes[value]!, literalLengths[value]!);
        continue;
      }
      const code = lengthCode[value]!;
      out.bits(literalCodes[code + LITERALS + 1]!, literalLengths[code + LITERALS + 1]!);
      if (EXTRA_LENGTH_BITS[code] !== 0) out.bits(value - baseLength[code]!, EXTRA_LENGTH_BITS[code]!);
      const back = distance - 1;
      const dcode = distanceCodeOf(back);
      out.bits(distanceCodes[dcode]!, distanceLengths[dcode]!);
      if (EXTRA_DISTANCE_BITS[dcode] !== 0) out.bits(back - baseDistance[dcode]!, EXTRA_DISTANCE_BITS[dcode]!);
    }
    out.bits(literalCodes[END_BLOCK]!, literalLengths[END_BLOCK]!);
  }
}
