import type { ByteSource } from './byte-source.js';
import type { Channel } from './format.js';

/**
 * Where the decoder reads the fields of operations from. Every read names the channel of its
 * field (docs/delta-format.md, "Channels"): version 2 keeps one section per channel in each
 * block, version 1 has a single stream that every channel shares. The `try` reads return the
 * field at once when the bytes at hand hold it, and undefined, having consumed nothing, when
 * the field must be awaited with the plain read: most fields are at hand, and a decoder that
 * awaits only the others spends its time on the bytes rather than on promises.
 */
export interface OpSource {
  byte(channel: Channel): Promise<number>;
  varint(channel: Channel): Promise<number>;
  signedVarint(channel: Channel): Promise<number>;
  /** Between 1 and `limit` bytes of the channel: a view, not a copy. */
  upTo(channel: Channel, limit: number): Promise<Buffer>;
  tryByte(channel: Channel): number | undefined;
  tryVarint(channel: Channel): number | undefined;
  tryUpTo(channel: Channel, limit: number): Buffer | undefined;
  /** True when every byte of the op stream has been read. */
  atEnd(): Promise<boolean>;
}

/** Version 1: the fields follow one another in the op stream whatever their channel. */
export class SingleStreamSource implements OpSource {
  constructor(private readonly input: ByteSource) {}

  byte(): Promise<number> {
    return this.input.byte();
  }

  varint(): Promise<number> {
    return this.input.varint();
  }

  signedVarint(): Promise<number> {
    return this.input.signedVarint();
  }

  upTo(_channel: Channel, limit: number): Promise<Buffer> {
    return this.input.upTo(limit);
  }

  tryByte(): number | undefined {
    return this.input.tryByte();
  }

  tryVarint(): number | undefined {
    return this.input.tryVarint();
  }

  tryUpTo(_channel: Channel, limit: number): Buffer | undefined {
    return this.input.tryUpTo(limit);
  }

  atEnd(): Promise<boolean> {
    return this.input.atEnd();
  }
}
