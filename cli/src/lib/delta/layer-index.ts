import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { DigestCounter, type Digest } from '../../../../shared/digest.js';
import { safeEntryPath } from '../../../../shared/tar/entry-path.js';
import { splitTar, type TarEntryKind } from '../../../../shared/tar/split.js';

/** A byte range of a layer's tar. */
export interface TarRange {
  offset: number;
  length: number;
}

export interface IndexedEntry {
  /** Normalized path inside the layer ('' for the root). */
  path: string;
  type: TarEntryKind;
  /** The skeleton bytes before the content: previous padding, extension records, header block. */
  segment: TarRange;
  /** Regular-file content (length 0 for every other kind). */
  content: TarRange;
  /** Hex sha256 of the content, for regular files. */
  sha256?: string;
}

/** A layer's tar saved to disk, with where every entry's header and content lie in it. */
export interface IndexedLayer {
  diffID: Digest;
  size: number;
  tarPath: string;
  entries: IndexedEntry[];
  tail: TarRange;
}

/**
 * Streams a layer's tar once: saves it to `tarPath` (so that later reads are random access)
 * and records every entry's ranges and content sha256. Memory: one chunk and the index.
 */
export async function indexLayer(source: AsyncIterable<Uint8Array>, tarPath: string, onBytes?: (count: number) => void): Promise<IndexedLayer> {
  const file = createWriteStream(tarPath);
  let writeError: Error | undefined;
  file.on('error', (error) => (writeError = error));
  const counter = new DigestCounter();
  const entries: IndexedEntry[] = [];
  let tail: TarRange | undefined;
  let contentHash: ReturnType<typeof createHash> | undefined;
  const write = async (bytes: Buffer) => {
    if (writeError) throw writeError;
    counter.update(bytes);
    onBytes?.(bytes.length);
    if (!file.write(bytes)) await once(file, 'drain');
  };
  const closeContent = () => {
    const last = entries.at(-1);
    if (last && contentHash) last.sha256 = contentHash.digest('hex');
    contentHash = undefined;
  };
  try {
    for await (const part of splitTar(source)) {
      if (part.kind === 'data') {
        contentHash!.update(part.bytes);
        await write(part.bytes);
        continue;
      }
      closeContent();
      const segment = { offset: counter.size, length: part.segment.length };
      await write(part.segment);
      if (part.kind === 'tail') {
        tail = segment;
        continue;
      }
      const { header } = part;
      entries.push({ path: safeEntryPath(header.path), type: header.type, segment, content: { offset: counter.size, length: header.size } });
      if (header.type === 'file') contentHash = createHash('sha256');
    }
    closeContent();
    file.end();
    await finished(file);
  } finally {
    file.destroy();
  }
  return { diffID: counter.digest(), size: counter.size, tarPath, entries, tail: tail! };
}
