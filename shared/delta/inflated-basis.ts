import { inflateRawSync } from 'node:zlib';
import { PrtiqlError } from '../errors.js';
import type { InflatedBasis } from './format.js';

/** Inflated bases kept in memory at once (each at most MAX_MEMBER_BYTES); the least recently used goes first. */
const MEMBERS_HELD = 2;

/**
 * The inflated bytes of a raw deflate stream that must inflate to exactly `size` bytes and end
 * exactly at its last byte. Any deflate decoder gives the same bytes, so Node's zlib is safe here.
 */
export function inflateMember(compressed: Uint8Array, size: number, what: string): Buffer {
  let inflated: { buffer: Buffer; engine: { bytesWritten: number } };
  try {
    inflated = inflateRawSync(compressed, { info: true, maxOutputLength: Math.max(1, size) }) as unknown as typeof inflated;
  } catch (error) {
    throw new PrtiqlError('E_BAD_INPUT', `${what} is not a ${size}-byte deflate stream: ${(error as Error).message}`);
  }
  if (inflated.buffer.length !== size || inflated.engine.bytesWritten !== compressed.length) {
    throw new PrtiqlError(
      'E_SIZE_MISMATCH',
      `${what} inflates ${inflated.engine.bytesWritten} of ${compressed.length} bytes to ${inflated.buffer.length}, expected all to ${size}`,
    );
  }
  return inflated.buffer;
}

/**
 * Random access to inflated bases: a member is inflated when first read and kept while in use,
 * so device memory for them is at most MEMBERS_HELD × MAX_MEMBER_BYTES.
 */
export class InflatedMembers {
  private readonly held = new Map<number, Buffer>();

  constructor(private readonly readCompressed: (basis: InflatedBasis) => Promise<Uint8Array>) {}

  async read(index: number, basis: InflatedBasis, position: number, length: number): Promise<Uint8Array> {
    let content = this.held.get(index);
    if (content) {
      this.held.delete(index);
    } else {
      content = inflateMember(await this.readCompressed(basis), basis.size, `basis ${index} (deflate stream at ${basis.offset} of layer ${basis.layer})`);
      if (this.held.size >= MEMBERS_HELD) this.held.delete(this.held.keys().next().value as number);
    }
    this.held.set(index, content);
    return content.subarray(position, position + length);
  }

  clear(): void {
    this.held.clear();
  }
}
