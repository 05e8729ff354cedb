import type { ByteSource } from './byte-source.js';
import type { Channel } from './format.js';

/**
 * Where the decoder reads the fields of operations from. Every read names the channel of its
 * field (docs/delta-format.md, "Channels"): version 2 keeps one section per channel in each
 * block, version 1 has a single stream that every channel shares.
 */
export interface OpSource {
  byte(channel: Channel): Promise<number>;
  varint(channel: Channel): Promise<number>;
  signedVarint(channel: Channel): Promise<number>;
  /** Between 1 and `limit` bytes of the channel: a view, not a copy, which the caller may modify. */
  upTo(channel: Channel, limit: number): Promise<Buffer>;
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

  atEnd(): Promise<boolean> {
    return this.input.atEnd();
  }
}
