import { MAX_VARINT_BYTES, deltaMalformed } from './format.js';
import { decodeVarint, unzigzag } from './varint.js';

const EMPTY = Buffer.alloc(0);

/**
 * Pull-based reader over the decompressed op stream. It holds the current input chunk plus at
 * most a few bytes carried over from the previous one; running out of input before a field is
 * complete is a truncated delta.
 */
export class ByteSource {
  private buffer: Buffer = EMPTY;
  private position = 0;
  private exhausted = false;
  /** Bytes handed out so far. */
  consumed = 0;

  constructor(private readonly chunks: AsyncIterator<Buffer>) {}

  async byte(): Promise<number> {
    if (this.available === 0) await this.fill(1);
    if (this.available === 0) deltaMalformed('truncated: an operation or field is missing');
    this.consumed++;
    return this.buffer[this.position++]!;
  }

  /** The next byte if the current chunk holds it; undefined (nothing consumed) when `byte()` must wait for input. */
  tryByte(): number | undefined {
    if (this.available === 0) return undefined;
    this.consumed++;
    return this.buffer[this.position++]!;
  }

  async varint(): Promise<number> {
    if (this.available < MAX_VARINT_BYTES) await this.fill(MAX_VARINT_BYTES);
    return this.decodeVarint();
  }

  /** The next varint if the current chunk surely holds it; undefined (nothing consumed) when `varint()` must wait for input. */
  tryVarint(): number | undefined {
    return this.available < MAX_VARINT_BYTES ? undefined : this.decodeVarint();
  }

  async signedVarint(): Promise<number> {
    return unzigzag(await this.varint());
  }

  /** Exactly `length` bytes in one buffer; only for short fields (digests, paths). */
  async bytes(length: number): Promise<Buffer> {
    if (this.available < length) await this.fill(length);
    if (this.available < length) deltaMalformed(`truncated: ${length} bytes expected, ${this.available} left`);
    return this.take(length);
  }

  /** Exactly `length` bytes copied into a buffer of their own: a block of a version-2 op stream. */
  async exactly(length: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(length);
    for (let filled = 0; filled < length; ) {
      if (this.available === 0) await this.fill(1);
      if (this.available === 0) deltaMalformed(`truncated: ${length} bytes expected, ${filled} left`);
      const take = Math.min(this.available, length - filled);
      this.buffer.copy(out, filled, this.position, this.position + take);
      this.position += take;
      this.consumed += take;
      filled += take;
    }
    return out;
  }

  /** Between 1 and `limit` bytes, as many as the current chunk holds: a view, not a copy. */
  async upTo(limit: number): Promise<Buffer> {
    if (this.available === 0) await this.fill(1);
    if (this.available === 0) deltaMalformed('truncated inside the bytes of an operation');
    return this.take(Math.min(limit, this.available));
  }

  /** As `upTo`, if the current chunk holds any byte; undefined when `upTo` must wait for input. */
  tryUpTo(limit: number): Buffer | undefined {
    return this.available === 0 ? undefined : this.take(Math.min(limit, this.available));
  }

  async atEnd(): Promise<boolean> {
    if (this.available === 0) await this.fill(1);
    return this.available === 0;
  }

  private decodeVarint(): number {
    const { value, next } = decodeVarint(this.buffer, this.position, this.buffer.length);
    this.consumed += next - this.position;
    this.position = next;
    return value;
  }

  private get available(): number {
    return this.buffer.length - this.position;
  }

  private take(length: number): Buffer {
    const view = this.buffer.subarray(this.position, this.position + length);
    this.position += length;
    this.consumed += length;
    return view;
  }

  private async fill(wanted: number): Promise<void> {
    while (this.available < wanted && !this.exhausted) {
      const next = await this.chunks.next();
      if (next.done) {
        this.exhausted = true;
        return;
      }
      const rest = this.buffer.subarray(this.position);
      this.buffer = rest.length === 0 ? next.value : Buffer.concat([rest, next.value]);
      this.position = 0;
    }
  }
}
