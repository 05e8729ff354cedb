import { pipeline } from 'node:stream';
import type { Digest } from '../../../../shared/digest.js';
import { MediaType, type Descriptor } from '../../../../shared/oci.js';
import { deterministicTar, type TarEntrySource } from '../../../../shared/tar/deterministic-writer.js';
import { CountingStream } from '../image/counting-stream.js';
import { deterministicGzip } from '../image/deterministic-gzip.js';
import type { OciLayout } from '../image/oci-layout.js';

export interface WrittenLayer {
  descriptor: Descriptor;
  diffID: Digest;
  /** Size of the uncompressed tar. */
  size: number;
}

/**
 * Writes entries as one gzip layer blob, streaming: deterministic tar, hashed for the diffID,
 * deterministic gzip, hashed again and stored by the layout.
 */
export async function writeLayerBlob(layout: OciLayout, entries: Iterable<TarEntrySource>, mtime: number): Promise<WrittenLayer> {
  const uncompressed = new CountingStream();
  const compressed = pipeline(
    deterministicTar(entries, { mtime }),
    uncompressed,
    ...deterministicGzip(),
    () => undefined,
  );
  const descriptor = await layout.writeBlob(compressed, MediaType.layerGzip);
  return { descriptor, diffID: uncompressed.counter.digest(), size: uncompressed.counter.size };
}
