import { MAX_VARINT_BYTES, WRITTEN_BLOCK_BYTES, channelSections, type Channel } from './format.js';
import type { OpSink } from './op-sink.js';
import { encodeVarint } from './varint.js';

/** The bytes of one channel in the block being filled: small writes batched, large payloads by reference. */
class Section {
  private parts: Buffer[] = [];
  private small: number[] = [];
  length = 0;

  push(value: number): void {
    this.small.push(value);
    this.length++;
  }

  varint(value: number): void {
    const before = this.small.length;
    encodeVarint(value, this.small);
    this.length += this.small.length - before;
  }

  bytes(data: Uint8Array): void {
    if (data.byteLength < 4096) {
      for (const byte of data) this.small.push(byte);
    } else {
      this.flushSmall();
      this.parts.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    }
    this.length += data.byteLength;
  }

  drain(): Buffer[] {
    this.flushSmall();
    const parts = this.parts;
    this.parts = [];
    this.length = 0;
    return parts;
  }

  private flushSmall(): void {
    if (this.small.length > 0) this.parts.push(Buffer.from(this.small));
    this.small = [];
  }
}

/**
 * The version-2 and -3 op stream: fields gathered per channel into blocks of at most WRITTEN_BLOCK_BYTES.
 * A block is closed between two fields (a payload may be cut to fill it), so that the decoder,
 * reading fields in the same order, has used up every section of a block when it needs the next.
 */
export class BlockBuilder implements OpSink {
  private readonly sectionOf: readonly number[];
  private readonly sections: Section[];
  private size = 0;
  private ready: Buffer[] = [];

  constructor(version: number) {
    this.sectionOf = channelSections(version);
    this.sections = Array.from({ length: Math.max(...this.sectionOf) + 1 }, () => new Section());
  }

  byte(channel: Channel, value: number): void {
    this.roomForNumber();
    this.sections[this.sectionOf[channel]!]!.push(value);
    this.size++;
  }

  varint(channel: Channel, value: number): void {
    this.roomForNumber();
    const section = this.sections[this.sectionOf[channel]!]!;
    const before = section.length;
    section.varint(value);
    this.size += section.length - before;
  }

  bytes(channel: Channel, data: Uint8Array): void {
    for (let at = 0; at < data.byteLength; ) {
      const take = Math.min(data.byteLength - at, WRITTEN_BLOCK_BYTES - this.size);
      this.sections[this.sectionOf[channel]!]!.bytes(data.subarray(at, at + take));
      this.size += take;
      at += take;
      if (this.size === WRITTEN_BLOCK_BYTES) this.closeBlock();
    }
  }

  take(all = false): Buffer[] {
    if (all) this.closeBlock();
    const ready = this.ready;
    this.ready = [];
    return ready;
  }

  private roomForNumber(): void {
    if (this.size + MAX_VARINT_BYTES > WRITTEN_BLOCK_BYTES) this.closeBlock();
  }

  private closeBlock(): void {
    if (this.size === 0) return;
    const lengths: number[] = [];
    for (const section of this.sections) encodeVarint(section.length, lengths);
    this.ready.push(Buffer.from(lengths));
    for (const section of this.sections) this.ready.push(...section.drain());
    this.size = 0;
  }
}
