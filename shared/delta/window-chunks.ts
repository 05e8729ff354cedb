/** Window bytes [position, position + length) as a triple of output delta `outputDelta` sees them. */
export type WindowLoader = (position: number, length: number, outputDelta: number) => Promise<Uint8Array>;

const EMPTY = new Uint8Array(0);

/**
 * The patch window bytes being read, one chunk at a time: the runs of a triple read the window
 * at increasing positions, mostly a few bytes each, and are served from the chunk without a
 * read of their own. A predicted window's bytes depend on the triple's output delta, so its
 * chunk serves only triples of the same delta.
 */
export class WindowChunks {
  bytes: Uint8Array = EMPTY;
  /** Window positions [start, end) that `bytes` holds. */
  start = 0;
  end = 0;
  private outputDelta = 0;

  constructor(
    private readonly load: WindowLoader,
    private readonly dependsOnDelta: boolean,
    private readonly chunkBytes: number,
  ) {}

  holds(position: number, outputDelta: number): boolean {
    return position >= this.start && position < this.end && (!this.dependsOnDelta || outputDelta === this.outputDelta);
  }

  /** Loads the chunk from `position` on, stopping at `limit` (the end of what the triple reads). */
  async fetch(position: number, limit: number, outputDelta: number): Promise<void> {
    const length = Math.min(limit - position, this.chunkBytes);
    this.bytes = EMPTY;
    this.bytes = await this.load(position, length, outputDelta);
    this.start = position;
    this.end = position + length;
    this.outputDelta = outputDelta;
  }
}
