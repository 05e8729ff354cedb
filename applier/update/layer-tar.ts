import { once } from 'node:events';
import { createGunzip } from 'node:zlib';
import { PrtiqlError } from '../../shared/errors.js';
import { MediaType } from '../../shared/oci.js';
import type { BlobRef, ReleaseDelta, ReleaseLayer } from '../../shared/release.js';
import { decodeDelta } from '../../shared/delta/decoder.js';
import { StoreBasisReader } from './delta/delta-basis.js';
import type { DeviceStore } from '../device-store/device-store.js';

/** A signed blob's bytes, only in chunks verified against its signed hashes (`what` names it in errors). */
export type VerifiedBlobReader = (blob: BlobRef, what: string) => AsyncIterable<Buffer>;

/**
 * Rebuilds a layer's tar from a delta against layers already on the device. Delta bytes
 * reach the decoder only chunk-verified; the caller checks the output against the diffID.
 */
export async function* deltaLayerTar(read: VerifiedBlobReader, store: DeviceStore, delta: ReleaseDelta): AsyncGenerator<Uint8Array> {
  const what = `delta ${delta.blob.digest} for layer ${delta.target}`;
  yield* decodeDelta(read(delta.blob, what), (header) => StoreBasisReader.open(store, header), delta);
}

/** Streams the layer's compressed blob; no byte reaches the decompressor before its chunk is verified. */
export async function* fullLayerTar(read: VerifiedBlobReader, layer: ReleaseLayer): AsyncGenerator<Uint8Array> {
  const what = `layer ${layer.diffID} blob ${layer.blob.digest}`;
  switch (layer.blob.mediaType) {
    case MediaType.layerTar:
      yield* read(layer.blob, what);
      return;
    case MediaType.layerGzip:
    case MediaType.dockerLayerGzip:
      yield* gunzip(read(layer.blob, what), what);
      return;
    default:
      throw new PrtiqlError('E_BAD_INPUT', `${what} has unsupported media type ${layer.blob.mediaType}`);
  }
}

/**
 * Decompresses while the consumer reads: the next compressed chunk is fetched (and verified)
 * only once the decompressor has taken in the last one, so a single chunk is in flight.
 */
async function* gunzip(compressed: AsyncIterable<Uint8Array>, what: string): AsyncGenerator<Uint8Array> {
  const decompressor = createGunzip({ chunkSize: 64 * 1024 });
  const stop = new AbortController();
  const feeding = (async () => {
    for await (const chunk of compressed) {
      if (!decompressor.write(chunk)) await once(decompressor, 'drain', { signal: stop.signal });
    }
    decompressor.end();
  })();
  feeding.catch((error: unknown) => decompressor.destroy(error as Error));
  try {
    yield* decompressor;
    await feeding;
  } catch (error) {
    if (error instanceof PrtiqlError) throw error;
    throw new PrtiqlError('E_BAD_INPUT', `${what} is not valid gzip: ${(error as Error).message}`);
  } finally {
    stop.abort();
    decompressor.destroy();
  }
}
