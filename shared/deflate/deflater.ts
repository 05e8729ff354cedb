import { BlockWriter } from './huffman-block.js';
import { unsupportedParams, type DeflateParams } from './params.js';

const WSIZE = 0x8000;
const WINDOW_SIZE = 2 * WSIZE;
const WMASK = WSIZE - 1;
const MIN_MATCH = 3;
const MAX_MATCH = 258;
const MIN_LOOKAHEAD = MAX_MATCH + MIN_MATCH + 1;
const MAX_DIST = WSIZE - MIN_LOOKAHEAD;
/** Matches of length 3 farther than this are dropped. */
const TOO_FAR = 4096;
/** gzip's block-splitting guess runs every this many symbols. */
const GZIP_GUESS_INTERVAL = 0x1000;
const GZIP_HASH_BITS = 15;
const GZIP_SYMBOL_BUFFER = 0x8000;

/** good, lazy, nice, chain: the matcher's effort per level (the same table in zlib and gzip). */
const LEVEL_CONFIG: Record<number, readonly [number, number, number, number]> = {
  4: [4, 4, 16, 16],
  5: [8, 16, 32, 32],
  6: [8, 16, 128, 128],
  7: [8, 32, 128, 256],
  8: [32, 128, 258, 1024],
  9: [32, 258, 258, 4096],
};

/**
 * A raw deflate encoder (RFC 1951, no zlib or gzip wrapper) that writes exactly what zlib
 * (deflate_slow, window bits 15, default strategy) or GNU gzip (levels 4 to 9) write for the
 * same input: the same window sliding, hash chains, lazy matching, block boundaries and
 * trees. Input may arrive in chunks of any size: the encoder waits until it can read as much
 * as those programs read from a whole file at once, so chunking never changes the output.
 * Memory: a 64 KiB window, the hash tables (at most 128 KiB), one block's symbols (at most
 * 96 KiB) and up to 64 KiB of pending input beyond the last chunk.
 */
export class Deflater {
  private readonly gzip: boolean;
  private readonly window = new Uint8Array(WINDOW_SIZE + MAX_MATCH + MIN_MATCH);
  private readonly head: Uint16Array;
  private readonly prev = new Uint16Array(WSIZE);
  private readonly hashShift: number;
  private readonly hashMask: number;
  private readonly blocks: BlockWriter;
  private readonly goodMatch: number;
  private readonly maxLazy: number;
  private readonly niceMatch: number;
  private readonly maxChain: number;

  // The state of one stream, set by reset().
  private pending!: Uint8Array[];
  private pendingBytes!: number;
  private final!: boolean;
  private started!: boolean;
  /** No more input will be read (gzip's eofile; zlib: all input consumed). */
  private inputDone!: boolean;

  private insertHash!: number;
  private strstart!: number;
  private blockStart!: number;
  private lookahead!: number;
  private matchStart!: number;
  private matchLength!: number;
  private prevLength!: number;
  private prevMatch!: number;
  private matchAvailable!: boolean;
  private finished!: boolean;

  constructor(readonly params: DeflateParams) {
    const unsupported = unsupportedParams(params);
    if (unsupported !== undefined) throw new RangeError(unsupported);
    this.gzip = params.flavour === 'gzip';
    const hashBits = this.gzip ? GZIP_HASH_BITS : params.memLevel + 7;
    this.head = new Uint16Array(1 << hashBits);
    this.hashMask = (1 << hashBits) - 1;
    this.hashShift = Math.floor((hashBits + MIN_MATCH - 1) / MIN_MATCH);
    this.blocks = new BlockWriter(this.gzip ? GZIP_SYMBOL_BUFFER : 1 << (params.memLevel + 6));
    [this.goodMatch, this.maxLazy, this.niceMatch, this.maxChain] = LEVEL_CONFIG[params.level]!;
    this.reset();
  }

  /** Starts a new stream with the same parameters, exactly as a new Deflater would, reusing the tables. */
  reset(): void {
    this.window.fill(0);
    this.head.fill(0);
    this.prev.fill(0);
    this.blocks.reset();
    this.pending = [];
    this.pendingBytes = 0;
    this.final = false;
    this.started = false;
    this.inputDone = false;
    this.insertHash = 0;
    this.strstart = 0;
    this.blockStart = 0;
    this.lookahead = 0;
    this.matchStart = 0;
    this.matchLength = MIN_MATCH - 1;
    this.prevLength = MIN_MATCH - 1;
    this.prevMatch = 0;
    this.matchAvailable = false;
    this.finished = false;
  }

  /** Takes more input (copied if kept); returns the compressed bytes completed so far. */
  write(chunk: Uint8Array): Uint8Array[] {
    if (this.final) throw new RangeError('deflater: write after end');
    if (chunk.length > 0) {
      this.pending.push(chunk.slice());
      this.pendingBytes += chunk.length;
      this.run();
    }
    return this.blocks.take();
  }

  /** Ends the input; returns the rest of the stream, final block included. */
  end(): Uint8Array[] {
    this.final = true;
    this.run();
    return this.blocks.take();
  }

  /** Copies up to `length` pending input bytes into the window at `at`; returns how many. */
  private read(at: number, length: number): number {
    let done = 0;
    while (done < length && this.pending.length > 0) {
      const chunk = this.pending[0]!;
      const take = Math.min(chunk.length, length - done);
      this.window.set(chunk.subarray(0, take), at + done);
      done += take;
      if (take === chunk.length) this.pending.shift();
      else this.pending[0] = chunk.subarray(take);
    }
    this.pendingBytes -= done;
    return done;
  }

  /** Reading `wanted` bytes now gives what a whole-file read would: enough is pending, or the input has ended. */
  private canRead(wanted: number): boolean {
    return this.final || this.pendingBytes >= wanted;
  }

  private run(): void {
    if (this.finished) return;
    if (!this.started) {
      if (!this.canRead(WINDOW_SIZE)) return;
      this.started = true;
      if (this.gzip) {
        this.lookahead = this.read(0, WINDOW_SIZE);
        if (this.lookahead === 0) this.inputDone = true;
        this.updateHash(this.window[0]!);
        this.updateHash(this.window[1]!);
      }
    }
    for (;;) {
      if (this.lookahead < MIN_LOOKAHEAD) {
        if (!this.inputDone) {
          if (!this.fillWindow()) return;
          // gzip tops the window up until it has enough lookahead or the input ends
          if (this.gzip) continue;
        } else if (!this.gzip && this.strstart >= WSIZE + MAX_DIST) {
          // zlib slides whenever it is short of lookahead, even once the input is over
          this.slide();
        }
      }
      if (this.lookahead === 0) break;
      this.step();
    }
    if (this.matchAvailable) this.tally(0, this.window[this.strstart - 1]!);
    this.flushBlock(true);
    this.finished = true;
  }

  /** One read into the window, sliding it first when nearly full; false when the read must wait for input. */
  private fillWindow(): boolean {
    const slide = this.strstart >= WSIZE + MAX_DIST;
    const more = WINDOW_SIZE - this.lookahead - this.strstart + (slide ? WSIZE : 0);
    if (!this.canRead(more)) return false;
    if (slide) this.slide();
    const read = this.read(this.strstart + this.lookahead, more);
    if (this.gzip) {
      if (read === 0) {
        this.inputDone = true;
        // gzip zeroes the two bytes after the input so that hashing at the end sees no stale bytes
        this.window.fill(0, this.strstart + this.lookahead, this.strstart + this.lookahead + MIN_MATCH - 1);
      }
    } else {
      if (this.final && this.pendingBytes === 0) this.inputDone = true;
      if (read > 0 && this.lookahead + read >= MIN_MATCH) {
        this.insertHash = this.window[this.strstart]!;
        this.updateHash(this.window[this.strstart + 1]!);
      }
    }
    this.lookahead += read;
    return true;
  }

  private slide(): void {
    this.window.copyWithin(0, WSIZE, WINDOW_SIZE);
    this.matchStart -= WSIZE;
    this.strstart -= WSIZE;
    this.blockStart -= WSIZE;
    for (const table of [this.head, this.prev]) {
      for (let n = 0; n < table.length; n++) {
        const m = table[n]!;
        table[n] = m >= WSIZE ? m - WSIZE : 0;
      }
    }
  }

  private updateHash(byte: number): void {
    this.insertHash = ((this.insertHash << this.hashShift) ^ byte) & this.hashMask;
  }

  /** Adds the string at `position` to its hash chain; returns the previous head of the chain. */
  private insert(position: number): number {
    this.updateHash(this.window[position + MIN_MATCH - 1]!);
    const head = this.head[this.insertHash]!;
    this.prev[position & WMASK] = head;
    this.head[this.insertHash] = position;
    return head;
  }

  /** One step of lazy matching: a match is taken only if the next position has no longer one. */
  private step(): void {
    let hashHead = 0;
    if (this.gzip || this.lookahead >= MIN_MATCH) hashHead = this.insert(this.strstart);
    this.prevLength = this.matchLength;
    this.prevMatch = this.matchStart;
    this.matchLength = MIN_MATCH - 1;
    if (
      hashHead !== 0 &&
      this.prevLength < this.maxLazy &&
      this.strstart - hashHead <= MAX_DIST &&
      (!this.gzip || this.strstart <= WINDOW_SIZE - MIN_LOOKAHEAD)
    ) {
      this.matchLength = Math.min(this.longestMatch(hashHead), this.lookahead);
      if (this.matchLength === MIN_MATCH && this.strstart - this.matchStart > TOO_FAR) this.matchLength = MIN_MATCH - 1;
    }
    if (this.prevLength >= MIN_MATCH && this.matchLength <= this.prevLength) {
      const maxInsert = this.strstart + this.lookahead - MIN_MATCH;
      const flush = this.tally(this.strstart - 1 - this.prevMatch, this.prevLength);
      this.lookahead -= this.prevLength - 1;
      for (let left = this.prevLength - 2; left > 0; left--) {
        this.strstart++;
        // zlib does not hash strings that run past the input; gzip does (their bytes are zero or stale)
        if (this.gzip || this.strstart <= maxInsert) this.insert(this.strstart);
      }
      this.matchAvailable = false;
      this.matchLength = MIN_MATCH - 1;
      this.strstart++;
      if (flush) this.flushBlock(false);
    } else if (this.matchAvailable) {
      if (this.tally(0, this.window[this.strstart - 1]!)) this.flushBlock(false);
      this.strstart++;
      this.lookahead--;
    } else {
      this.matchAvailable = true;
      this.strstart++;
      this.lookahead--;
    }
  }

  /**
   * The longest match at `strstart` along the hash chain from `chainHead`, if longer than
   * `prevLength` (else `prevLength`, `matchStart` unchanged). zlib stops at a match reaching the
   * end of the input; gzip searches on and may compare bytes past it, then cuts the length.
   */
  private longestMatch(chainHead: number): number {
    const window = this.window;
    const scan = this.strstart;
    const limit = scan > MAX_DIST ? scan - MAX_DIST : 0;
    let chain = this.maxChain;
    let bestLength = this.prevLength;
    let nice = this.niceMatch;
    if (this.prevLength >= this.goodMatch) chain >>= 2;
    if (!this.gzip && nice > this.lookahead) nice = this.lookahead;
    let scanEnd1 = window[scan + bestLength - 1]!;
    let scanEnd = window[scan + bestLength]!;
    let candidate = chainHead;
    do {
      const match = candidate;
      if (window[match + bestLength] !== scanEnd || window[match + bestLength - 1] !== scanEnd1 || window[match] !== window[scan] || window[match + 1] !== window[scan + 1]) continue;
      // the third bytes are equal: same hash, same first two bytes
      let length = MIN_MATCH;
      while (length < MAX_MATCH && window[scan + length] === window[match + length]) length++;
      if (length > bestLength) {
        this.matchStart = match;
        bestLength = length;
        if (length >= nice) break;
        scanEnd1 = window[scan + bestLength - 1]!;
        scanEnd = window[scan + bestLength]!;
      }
    } while ((candidate = this.prev[candidate & WMASK]!) > limit && --chain !== 0);
    return bestLength;
  }

  /** Records a literal (`distance` 0) or a match; true when the block must end here. */
  private tally(distance: number, value: number): boolean {
    const blocks = this.blocks;
    if (distance === 0) blocks.literal(value);
    else blocks.match(distance, value);
    if (!this.gzip) return blocks.symbols === blocks.capacity - 1;
    if (blocks.symbols % GZIP_GUESS_INTERVAL === 0) {
      // gzip ends a block early when matches are rare and the block already compresses well
      const inputBytes = this.strstart - this.blockStart;
      if (blocks.matches < Math.floor(blocks.symbols / 2) && blocks.estimatedBytes() < Math.floor(inputBytes / 2)) return true;
    }
    return blocks.symbols === blocks.capacity - 1;
  }

  private flushBlock(last: boolean): void {
    const stored = this.blockStart >= 0 ? this.window.subarray(this.blockStart) : undefined;
    this.blocks.flush(stored, this.strstart - this.blockStart, last);
    this.blockStart = this.strstart;
  }
}

/** Deflates a whole buffer (a convenience for the builder, which holds members in memory). */
export function deflateRaw(input: Uint8Array, params: DeflateParams): Buffer {
  const deflater = new Deflater(params);
  return Buffer.concat([...deflater.write(input), ...deflater.end()]);
}
