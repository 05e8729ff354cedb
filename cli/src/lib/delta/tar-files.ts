import { createWriteStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { PrtiqlError } from '../../../../shared/errors.js';
import type { TarRange } from './layer-index.js';

/** Largest single read: content is streamed in pieces of this size. */
export const READ_PIECE_BYTES = 1024 * 1024;

/** A range of one saved tar. */
export interface SavedRange {
  tarPath: string;
  range: TarRange;
}

/** Random-access reads from the tars a planner saved, with one open handle per file. */
export class TarFiles {
  private readonly handles = new Map<string, Promise<FileHandle>>();

  async read(tarPath: string, offset: number, length: number): Promise<Buffer> {
    const handle = await this.handle(tarPath);
    const bytes = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await handle.read(bytes, done, length - done, offset + done);
      if (bytesRead === 0) throw new PrtiqlError('E_INTERNAL', `${tarPath} ends before ${offset + length}`);
      done += bytesRead;
    }
    return bytes;
  }

  /** The bytes of `ranges`, in order, in pieces of at most READ_PIECE_BYTES. */
  async *stream(ranges: readonly SavedRange[]): AsyncGenerator<Buffer> {
    for (const { tarPath, range } of ranges) {
      for (let done = 0; done < range.length; ) {
        const length = Math.min(READ_PIECE_BYTES, range.length - done);
        yield await this.read(tarPath, range.offset + done, length);
        done += length;
      }
    }
  }

  /** Writes the concatenation of `ranges` to a new file, e.g. an input for bsdiff. */
  async writeFile(path: string, ranges: readonly SavedRange[]): Promise<void> {
    await pipeline(this.stream(ranges), createWriteStream(path));
  }

  async close(): Promise<void> {
    const handles = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(handles.map(async (handle) => (await handle).close()));
  }

  private handle(tarPath: string): Promise<FileHandle> {
    let handle = this.handles.get(tarPath);
    if (!handle) {
      handle = open(tarPath, 'r');
      this.handles.set(tarPath, handle);
    }
    return handle;
  }
}
