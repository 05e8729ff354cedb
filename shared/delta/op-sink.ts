import type { Channel } from './format.js';

/**
 * Where the writer puts the fields of operations, each in its channel (the decoder's OpSource
 * reads them back in the same order). `take` hands over the bytes completed so far.
 */
export interface OpSink {
  byte(channel: Channel, value: number): void;
  varint(channel: Channel, value: number): void;
  bytes(channel: Channel, data: Uint8Array): void;
  /** Completed chunks of the op stream; with `all`, everything written so far. */
  take(all?: boolean): Buffer[];
}
