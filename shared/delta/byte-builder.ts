import type { OpSink } from './op-sink.js';
import { encodeVarint } from './varint.js';

const BATCH_BYTES = 64 * 1024;

/**
 * The version-1 op stream: every field in one stream, whatever its channel. Gathers many small
 * writes into batches of about 64 KiB so that a stream of tiny fields does not become a stream
 * of tiny chunks; large payloads pass through without a copy.
 */
export class ByteBuilder implements OpSink {
  private ready: Buffer[] = [];
  private small: number[] = [];

  byte(_channel: number, value: number): void {
    this.small.push(value);
  }

  varint(_channel: number, value: number): void {
    encodeVarint(value, this.small);
  }

  bytes(_channel: number, data: Uint8Array): void {
    if (data.byteLength < 4096) {
      for (const byte of data) this.small.push(byte);
    } else {
      this.closeBatch();
      this.ready.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    }
    if (this.small.length >= BATCH_BYTES) this.closeBatch();
  }

  take(all = false): Buffer[] {
    if (all || this.small.length >= BATCH_BYTES) this.closeBatch();
    const ready = this.ready;
    this.ready = [];
    return ready;
  }

  private closeBatch(): void {
    if (this.small.length > 0) this.ready.push(Buffer.from(this.small));
    this.small = [];
  }
}
