import type { ByteSource } from './byte-source.js';
import { CHANNEL_NAMES, MAX_BLOCK_BYTES, channelSections, deltaMalformed, type Channel } from './format.js';
import type { OpSource } from './op-source.js';
import { decodeVarint, unzigzag } from './varint.js';

const EMPTY = Buffer.alloc(0);

/**
 * Versions 2 and 3: the op stream after the header is a sequence of blocks, each one section per
 * channel. A read from a channel whose section is used up moves to the next block, which is
 * only allowed once every section of the current block is used up: the writer closes a block
 * between two fields, so any other state is a malformed delta. Memory: one block.
 */
export class BlockSource implements OpSource {
  private readonly sectionOf: readonly number[];
  private sections: Buffer[];
  private positions: number[];
  private blocks = 0;

  constructor(
    private readonly input: ByteSource,
    version: number,
  ) {
    this.sectionOf = channelSections(version);
    const count = Math.max(...this.sectionOf) + 1;
    this.sections = Array.from({ length: count }, () => EMPTY);
    this.positions = new Array<number>(count).fill(0);
  }

  async byte(channel: Channel): Promise<number> {
    return this.tryByte(channel) ?? (await this.nextBlock(channel), this.tryByte(channel)!);
  }

  async varint(channel: Channel): Promise<number> {
    return this.tryVarint(channel) ?? (await this.nextBlock(channel), this.tryVarint(channel)!);
  }

  async signedVarint(channel: Channel): Promise<number> {
    return unzigzag(await this.varint(channel));
  }

  async upTo(channel: Channel, limit: number): Promise<Buffer> {
    return this.tryUpTo(channel, limit) ?? (await this.nextBlock(channel), this.tryUpTo(channel, limit)!);
  }

  tryByte(channel: Channel): number | undefined {
    const index = this.sectionOf[channel]!;
    const section = this.sections[index]!;
    const at = this.positions[index]!;
    if (at === section.length) return undefined;
    this.positions[index] = at + 1;
    return section[at]!;
  }

  tryVarint(channel: Channel): number | undefined {
    const index = this.sectionOf[channel]!;
    const section = this.sections[index]!;
    if (this.positions[index] === section.length) return undefined;
    const { value, next } = decodeVarint(section, this.positions[index]!, section.length);
    this.positions[index] = next;
    return value;
  }

  tryUpTo(channel: Channel, limit: number): Buffer | undefined {
    const index = this.sectionOf[channel]!;
    const section = this.sections[index]!;
    const at = this.positions[index]!;
    if (at === section.length) return undefined;
    const end = Math.min(section.length, at + limit);
    this.positions[index] = end;
    return section.subarray(at, end);
  }

  async atEnd(): Promise<boolean> {
    return this.unread() === 0 && (await this.input.atEnd());
  }

  private unread(): number {
    return this.sections.reduce((sum, section, channel) => sum + section.length - this.positions[channel]!, 0);
  }

  private async nextBlock(channel: Channel): Promise<void> {
    const name = CHANNEL_NAMES[channel];
    const unread = this.unread();
    if (unread > 0) deltaMalformed(`block ${this.blocks} has no ${name} bytes left but ${unread} other bytes unread`);
    if (await this.input.atEnd()) deltaMalformed(`truncated: the ${name} channel needs a block after block ${this.blocks}`);
    this.blocks++;
    const lengths: number[] = [];
    let total = 0;
    for (let i = 0; i < this.sections.length; i++) {
      const length = await this.input.varint();
      total += length;
      if (total > MAX_BLOCK_BYTES) deltaMalformed(`block ${this.blocks} is longer than ${MAX_BLOCK_BYTES} bytes`);
      lengths.push(length);
    }
    if (lengths[this.sectionOf[channel]!] === 0) deltaMalformed(`block ${this.blocks} has no ${name} bytes, which the operation being read needs`);
    const bytes = await this.input.exactly(total);
    let at = 0;
    this.sections = lengths.map((length) => bytes.subarray(at, (at += length)));
    this.positions.fill(0);
  }
}
