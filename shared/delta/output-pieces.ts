/**
 * The decoder's output, gathered into pieces of a fixed size: a patch writes runs of a few
 * bytes each, and handing every run to the consumer on its own (a promise, a hash update, a
 * file write each) cost far more than the bytes. One piece is filled at a time; a full piece
 * is taken and a new one started, so pieces handed out are never written again.
 */
export class OutputPieces {
  private piece: Buffer | undefined;
  private used = 0;

  constructor(readonly size: number) {}

  get room(): number {
    return this.size - this.used;
  }

  get full(): boolean {
    return this.used === this.size;
  }

  get empty(): boolean {
    return this.used === 0;
  }

  /** Copies `bytes`, at most `room` of them. */
  push(bytes: Uint8Array): void {
    this.current().set(bytes, this.used);
    this.used += bytes.length;
  }

  /** bspatch's add step: writes `(diff[i] + old[oldStart + i]) mod 256` for every diff byte, at most `room` of them. */
  pushSum(diff: Uint8Array, old: Uint8Array, oldStart: number): void {
    const piece = this.current();
    const at = this.used;
    for (let i = 0; i < diff.length; i++) piece[at + i] = (diff[i]! + old[oldStart + i]!) & 0xff;
    this.used += diff.length;
  }

  /** Copies all of `bytes`, yielding every piece that fills on the way. */
  *append(bytes: Uint8Array): Generator<Buffer> {
    for (let done = 0; done < bytes.length; ) {
      const length = Math.min(bytes.length - done, this.room);
      this.push(bytes.subarray(done, done + length));
      done += length;
      if (this.full) yield this.take();
    }
  }

  /** The bytes written since the last take. */
  take(): Buffer {
    const taken = this.current().subarray(0, this.used);
    this.piece = undefined;
    this.used = 0;
    return taken;
  }

  private current(): Buffer {
    this.piece ??= Buffer.allocUnsafe(this.size);
    return this.piece;
  }
}
